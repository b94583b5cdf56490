"""Pre-trade risk: one test per reason check_order can give, rounding, and the risk state's bookkeeping."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas import OrderRejected, OrderRequested, OrderStatus, OrderValidated, RejectReason
from schemas.primitives import OrderType, Side, TimeInForce
from tests.unit.trading.builders import T0, D, executed, ms, request, rules, validated
from trading.config import RiskLimits
from trading.ids import derived_id
from trading.markets import MarketCatalog
from trading.risk import AccountRiskState, OpenOrder, Rejection, check_order, order_market_time
from venues.catalog import load_catalog

BTC, ETH = "BTC/USDT", "ETH/USDT"
PRICES = {BTC: D(60000), ETH: D(3000)}
WINDOW = timedelta(seconds=1)
LIMITS = RiskLimits()


def hand_catalog() -> MarketCatalog:
    """alpha: BTC step 0.001 tick 0.01 min 0.001 / min cost 10; ETH step 0.01. SOL inactive everywhere."""
    return MarketCatalog(
        [
            rules("alpha", BTC, min_amount=D("0.001"), min_cost=D(10)),
            rules("alpha", ETH, amount_step=D("0.01")),
            rules("alpha", "SOL/USDT", active=False),
            rules("beta", "SOL/USDT", active=False),
        ]
    )


def check(
    order: OrderRequested,
    *,
    catalog: MarketCatalog | None = None,
    state: AccountRiskState | None = None,
    prices: Mapping[str, Decimal] = PRICES,
    used: frozenset[str] = frozenset(),
    **limits: Any,
) -> OrderValidated | Rejection:
    return check_order(
        order,
        state or AccountRiskState(),
        catalog or hand_catalog(),
        prices,
        RiskLimits(**limits) if limits else LIMITS,
        used_order_ids=used,
    )


def accepted(result: OrderValidated | Rejection) -> OrderValidated:
    assert isinstance(result, OrderValidated), result
    return result


def rejection(result: OrderValidated | Rejection) -> Rejection:
    assert isinstance(result, Rejection), f"expected a rejection, got {result!r}"
    return result


def reason(result: OrderValidated | Rejection) -> RejectReason:
    return rejection(result).reason


def filled(quantity: str, price: str, symbol: str = BTC, side: Side = Side.BUY) -> AccountRiskState:
    """A risk state holding one filled position."""
    fill = executed(
        quantity=quantity,
        price=price,
        cumulative=quantity,
        remaining="0",
        status=OrderStatus.FILLED,
        side=side,
        symbol=symbol,
        order_id="old-fill",
    )
    return AccountRiskState().apply_fill(fill)


# --- one test per reason -------------------------------------------------------------------------------


def test_kill_switch_comes_first() -> None:
    result = rejection(check(request(symbol="FOO/USDT"), prices={}, kill_switch=True))
    assert reason(result) is RejectReason.KILL_SWITCH
    assert "acct-1" in result.detail


def test_duplicate_order_id() -> None:
    first = request()
    used = frozenset({first.order_id})  # accepted or refused: the id was used either way
    again = request(quantity=D("0.002"))  # a new event, same order id
    assert reason(check(again, used=used)) is RejectReason.DUPLICATE_ORDER
    assert isinstance(check(request(order_id="ord-2"), used=used), OrderValidated)


def test_unknown_symbol_on_real_catalog(real_catalog: MarketCatalog) -> None:
    result = rejection(check(request(symbol="FOO/USDT"), catalog=real_catalog))
    assert reason(result) is RejectReason.UNKNOWN_SYMBOL
    assert "on any venue" in result.detail


def test_unknown_symbol_on_the_requested_venue(real_catalog: MarketCatalog) -> None:
    # kraken lists BTC/USD; binance does not (only the inverse swap BTC/USD:BTC)
    assert real_catalog.get("kraken", "BTC/USD") is not None
    result = rejection(check(request(symbol="BTC/USD", venue="binance"), catalog=real_catalog))
    assert reason(result) is RejectReason.UNKNOWN_SYMBOL
    assert "on binance" in result.detail
    on_kraken = check(
        request(symbol="BTC/USD", venue="kraken"), catalog=real_catalog, prices={"BTC/USD": D(60000)}
    )
    assert isinstance(on_kraken, OrderValidated)


def test_market_inactive_on_real_catalog(real_catalog: MarketCatalog) -> None:
    # bybit's option is the only listing of this symbol, and ccxt marks it inactive (active: false)
    symbol = "BTC/USDT:USDT-250530-70000-C"
    result = check(request(symbol=symbol), catalog=real_catalog, prices={symbol: D(10)})
    assert reason(result) is RejectReason.MARKET_INACTIVE


def test_market_inactive_hand_built() -> None:
    result = check(request(symbol="SOL/USDT"), prices={"SOL/USDT": D(150)})
    assert reason(result) is RejectReason.MARKET_INACTIVE


def test_inactive_venue_requested_while_another_is_active() -> None:
    catalog = MarketCatalog([rules("alpha", BTC, active=False), rules("beta", BTC)])
    assert reason(check(request(venue="alpha"), catalog=catalog)) is RejectReason.MARKET_INACTIVE
    assert isinstance(check(request(), catalog=catalog), OrderValidated)


def test_quantity_below_min_on_real_catalog(real_catalog: MarketCatalog) -> None:
    # kraken's BTC/USDT minimum amount is 0.0001
    result = rejection(check(request(venue="kraken", quantity=D("0.00005")), catalog=real_catalog))
    assert reason(result) is RejectReason.QUANTITY_BELOW_MIN
    assert result.detail.startswith("kraken: ")
    validated = check(request(venue="kraken", quantity=D("0.0001")), catalog=real_catalog)
    assert isinstance(validated, OrderValidated)
    assert validated.venue == "kraken"  # the router routes only to the requested venue


def test_quantity_rounding_to_zero_is_below_min() -> None:
    # alpha's step is 0.001: 0.0009 rounds down to 0
    catalog = MarketCatalog([rules("alpha", BTC)])
    result = rejection(check(request(quantity=D("0.0009")), catalog=catalog))
    assert reason(result) is RejectReason.QUANTITY_BELOW_MIN
    assert "rounds to 0" in result.detail


def test_notional_below_min_on_real_catalog(real_catalog: MarketCatalog) -> None:
    # binance's min cost is 5 USDT: 0.0001 x 40000 = 4
    order = request(venue="binance", quantity=D("0.0001"))
    result = rejection(check(order, catalog=real_catalog, prices={BTC: D(40000)}))
    assert reason(result) is RejectReason.NOTIONAL_BELOW_MIN
    assert result.detail.startswith("binance: ")


def test_notional_below_min_uses_the_limit_price(real_catalog: MarketCatalog) -> None:
    prices = {BTC: D(50000)}
    market = request(venue="binance", quantity=D("0.0001"))  # 0.0001 x 50000 = 5: exactly the minimum
    assert isinstance(check(market, catalog=real_catalog, prices=prices), OrderValidated)
    limit = request(venue="binance", quantity=D("0.0001"), limit_price=D(49000))  # 4.9
    assert reason(check(limit, catalog=real_catalog, prices=prices)) is RejectReason.NOTIONAL_BELOW_MIN


@pytest.mark.parametrize(
    ("limit_price", "ok"),
    [
        ("63000", True),  # |63000 - 60000| = 3000 = 5% of 60000: at the collar
        ("57000", True),
        ("63000.01", False),
        ("56999.99", False),
    ],
)
def test_price_collar(limit_price: str, ok: bool) -> None:
    result = check(request(limit_price=D(limit_price)))
    if ok:
        assert accepted(result).limit_price == D(limit_price)
    else:
        assert reason(result) is RejectReason.PRICE_COLLAR


def test_no_market_price() -> None:
    assert reason(check(request(), prices={})) is RejectReason.NO_MARKET_PRICE
    assert reason(check(request(), prices={ETH: D(3000)})) is RejectReason.NO_MARKET_PRICE


def test_max_order_notional() -> None:
    assert accepted(check(request(quantity=D("0.02")), max_order_notional=D(1200))).quantity == D("0.02")
    over = check(request(quantity=D("0.021")), max_order_notional=D(1200))  # 0.021 x 60000 = 1260
    assert reason(over) is RejectReason.MAX_ORDER_NOTIONAL
    # with a limit, the notional is at the limit price: 0.02 x 60100 = 1202
    at_limit = check(request(quantity=D("0.02"), limit_price=D(60100)), max_order_notional=D(1200))
    assert reason(at_limit) is RejectReason.MAX_ORDER_NOTIONAL


def test_max_open_orders() -> None:
    one = AccountRiskState().accept(validated(order_id="ord-a"), D(60000), WINDOW)
    two = one.accept(validated(order_id="ord-b", symbol=ETH), D(3000), WINDOW)
    assert isinstance(check(request(), state=one, max_open_orders=2), OrderValidated)
    assert reason(check(request(), state=two, max_open_orders=2)) is RejectReason.MAX_OPEN_ORDERS


def test_order_rate_counts_market_time_not_wall_clock() -> None:
    state = (
        AccountRiskState()
        .accept(validated(order_id="ord-a", market_time=T0), D(60000), WINDOW)
        .accept(validated(order_id="ord-b", market_time=T0 + ms(500)), D(60000), WINDOW)
    )
    limits: dict[str, Any] = {"max_orders_per_window": 2, "rate_window_seconds": D(1)}
    # The events' wall-clock timestamps are "now", years after T0: only market_time can trip the rate.
    inside = check(request(market_time=T0 + ms(900)), state=state, **limits)
    assert reason(inside) is RejectReason.ORDER_RATE
    # At T0 + 1s the window is (T0, T0 + 1s]: the order at T0 has left it.
    assert isinstance(check(request(market_time=T0 + ms(1000)), state=state, **limits), OrderValidated)


def test_max_position_counts_position_and_open_orders() -> None:
    state = filled("0.01", "60000")
    limits: dict[str, Any] = {"max_position_notional": D(1000)}
    # 0.016 x 60000 = 960; 0.017 x 60000 = 1020
    assert isinstance(check(request(quantity=D("0.006")), state=state, **limits), OrderValidated)
    assert reason(check(request(quantity=D("0.007")), state=state, **limits)) is RejectReason.MAX_POSITION
    # short side counts too: 0.01 - 0.03 = -0.02 -> 1200
    sell = request(side=Side.SELL, quantity=D("0.03"))
    assert reason(check(sell, state=state, **limits)) is RejectReason.MAX_POSITION
    # an open buy of 0.005 counts: 0.01 + 0.005 + 0.002 = 0.017 -> 1020
    pending = state.accept(validated(order_id="ord-open", quantity=D("0.005")), D(60000), WINDOW)
    assert reason(check(request(quantity=D("0.002")), state=pending, **limits)) is RejectReason.MAX_POSITION


def test_max_gross_exposure_sums_symbols() -> None:
    state = filled("0.01", "60000")  # 600 of BTC at the last price 60000
    limits: dict[str, Any] = {"max_gross_exposure": D(1500)}
    # ETH 0.3 x 3000 = 900 -> 1500: at the limit
    assert isinstance(check(request(symbol=ETH, quantity=D("0.3")), state=state, **limits), OrderValidated)
    over = check(request(symbol=ETH, quantity=D("0.31")), state=state, **limits)  # 930 -> 1530
    assert reason(over) is RejectReason.MAX_GROSS_EXPOSURE
    # BTC now at 70000: 700 + 0.27 x 3000 = 1510
    moved = {BTC: D(70000), ETH: D(3000)}
    assert reason(check(request(symbol=ETH, quantity=D("0.27")), state=state, prices=moved, **limits)) is (
        RejectReason.MAX_GROSS_EXPOSURE
    )


def test_order_that_reduces_exposure_passes_even_above_the_limit() -> None:
    state = filled("0.02", "60000")  # 1200, already above 1000
    result = check(request(side=Side.SELL, quantity=D("0.01")), state=state, max_gross_exposure=D(1000))
    assert accepted(result).quantity == D("0.01")  # leaves 600


# --- rounding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "60000"), (Side.SELL, "60001")])
def test_rounding_on_all_real_venues(real_catalog: MarketCatalog, side: Side, price: str) -> None:
    # All six venues accept: coarsest amount step is binance's 0.00001, coarsest tick bitstamp's 1.
    order = request(side=side, quantity=D("0.123456789"), limit_price=D("60000.75"))
    result = accepted(check(order, catalog=real_catalog))
    assert result.quantity == D("0.12345")
    assert result.limit_price == D(price)


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "60000.7"), (Side.SELL, "60000.8")])
def test_rounding_on_binance_and_kraken(markets_dir: Path, side: Side, price: str) -> None:
    catalog = load_catalog(markets_dir, ("binance", "kraken"))  # ticks 0.01 and 0.1
    order = request(side=side, quantity=D("0.123456789"), limit_price=D("60000.75"))
    result = accepted(check(order, catalog=catalog))
    assert result.quantity == D("0.12345")
    assert result.limit_price == D(price)


def test_rounding_to_the_requested_venue_only(real_catalog: MarketCatalog) -> None:
    order = request(venue="kraken", quantity=D("0.123456789"), limit_price=D("60000.75"))
    result = accepted(check(order, catalog=real_catalog))
    assert result.quantity == D("0.12345678")  # kraken's step 1E-8
    assert result.limit_price == D("60000.7")  # kraken's tick 0.1, down for a buy


def test_rounding_uses_only_the_accepting_venues() -> None:
    # alpha (step 0.1) refuses 0.5555 -> 0.5 below its min 1; only beta (step 0.001) accepts it
    catalog = MarketCatalog([rules("alpha", BTC, amount_step=D("0.1"), min_amount=D(1)), rules("beta", BTC)])
    result = accepted(check(request(quantity=D("0.5555")), catalog=catalog, prices={BTC: D(100)}))
    assert result.quantity == D("0.555")


def test_market_order_keeps_no_limit_price() -> None:
    result = accepted(check(request(quantity=D("0.0123"))))
    assert result.order_type is OrderType.MARKET
    assert result.limit_price is None
    assert result.quantity == D("0.012")


def test_rounded_limit_price_still_meets_the_venue_min_cost(real_catalog: MarketCatalog) -> None:
    # bitstamp: tick 1, min cost 10. 0.00049998 x 20000.9 = 10.00004... passes, but the buy limit is then
    # rounded down to 20000 and 0.00049998 x 20000 = 9.9996 is below bitstamp's minimum.
    order = request(venue="bitstamp", quantity=D("0.00049998"), limit_price=D("20000.9"))
    result = check(order, catalog=real_catalog, prices={BTC: D(20000)})
    if isinstance(result, OrderValidated):
        assert result.limit_price is not None
        assert result.quantity * result.limit_price >= D(10)


def test_rounded_quantity_is_checked_again_after_rounding() -> None:
    # alpha (step 0.1, no minimum) and beta (step 0.001, min cost 5) both accept 0.15 @ 40 (alpha sees 0.1,
    # beta 0.15 -> 6). The coarsest step gives 0.1: 0.1 x 40 = 4 still suits alpha, so it is validated
    # (the router then gives beta no leg below its min cost); with only beta listed it is refused.
    beta = rules("beta", BTC, min_cost=D(5))
    catalog = MarketCatalog([rules("alpha", BTC, amount_step=D("0.1")), beta])
    result = check(request(quantity=D("0.15")), catalog=catalog, prices={BTC: D(40)})
    assert isinstance(result, OrderValidated)
    assert result.quantity == D("0.1")
    only_beta = MarketCatalog([rules("beta", BTC, amount_step=D("0.1"), min_cost=D(5))])
    refused = check(request(quantity=D("0.15")), catalog=only_beta, prices={BTC: D(40)})
    assert reason(refused) is RejectReason.NOTIONAL_BELOW_MIN


# --- the validated event -------------------------------------------------------------------------------


def test_validated_event_keeps_the_order_and_derives_its_id() -> None:
    order = request(
        quantity=D("0.0123"), limit_price=D("60000.005"), time_in_force=TimeInForce.IOC, side=Side.SELL
    )
    result = accepted(check(order))
    assert result.order_id == "ord-1"
    assert result.account_id == "acct-1"
    assert result.strategy_id == "strat-1"
    assert result.symbol == BTC
    assert result.side is Side.SELL
    assert result.time_in_force is TimeInForce.IOC
    assert result.market_time == T0
    assert result.limit_price == D("60000.01")  # sell rounds up to alpha's 0.01 tick
    assert result.event_id == derived_id(order.event_id, "validated")
    assert result.causation_id == order.event_id
    assert result.correlation_id == order.correlation_id


def test_same_request_gives_the_same_event_id() -> None:
    order = request()
    first, second = accepted(check(order)), accepted(check(order))
    assert first.event_id == second.event_id
    assert first.model_dump(exclude={"timestamp"}) == second.model_dump(exclude={"timestamp"})
    other = accepted(check(request()))  # a new request event with the same terms
    assert other.event_id != first.event_id


def test_market_time_falls_back_to_the_request_timestamp() -> None:
    """An order placed by hand keeps no market time (nothing waits for the market of one), and is decided
    as of its request: the validated event's own timestamp is later."""
    order = request(market_time=None, timestamp=T0 + ms(250))
    result = accepted(check(order))
    assert result.market_time is None
    assert result.requested_at == T0 + ms(250)
    assert order_market_time(result) == T0 + ms(250)


# --- AccountRiskState ----------------------------------------------------------------------------------


def test_accept_records_open_order_time_and_id() -> None:
    order = validated(order_id="o1", side=Side.SELL, quantity=D("0.5"))
    state = AccountRiskState().accept(order, D(60000), WINDOW)
    assert state.open_orders == {
        "o1": OpenOrder(symbol=BTC, signed_remaining=D("-0.5"), price=D(60000), opened_at=T0)
    }
    assert state.accepted_times == (T0,)
    assert state.projected(BTC) == D("-0.5")
    # a second accept two seconds later drops the first time from the window, not the order
    later = state.accept(validated(order_id="o2", market_time=T0 + ms(2000)), D(60000), WINDOW)
    assert later.accepted_times == (T0 + ms(2000),)
    assert set(later.open_orders) == {"o1", "o2"}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_apply_fill_partial_then_final(side: Side) -> None:
    sign = side.sign
    state = AccountRiskState().accept(validated(order_id="o1", side=side, quantity=D(1)), D(60000), WINDOW)
    state = state.apply_fill(
        executed(
            quantity="0.4",
            price="60010",
            cumulative="0.4",
            remaining="0.6",
            status=OrderStatus.PARTIALLY_FILLED,
            side=side,
            order_id="o1",
        )
    )
    assert state.positions == {BTC: D("0.4") * sign}
    assert state.open_orders["o1"].signed_remaining == D("0.6") * sign
    assert state.last_fill_prices == {BTC: D(60010)}
    assert state.projected(BTC) == D(1) * sign
    state = state.apply_fill(
        executed(
            quantity="0.6",
            price="60020",
            cumulative="1",
            remaining="0",
            status=OrderStatus.FILLED,
            side=side,
            order_id="o1",
            fill_id="fill-2",
        )
    )
    assert state.positions == {BTC: D(1) * sign}
    assert state.open_orders == {}
    assert state.last_fill_prices == {BTC: D(60020)}
    assert state.projected(BTC) == D(1) * sign


def test_canceled_fill_closes_the_order() -> None:
    state = AccountRiskState().accept(validated(order_id="o1", quantity=D(1)), D(60000), WINDOW)
    state = state.apply_fill(
        executed(
            quantity="0.3",
            price="60000",
            cumulative="0.3",
            remaining="0.7",
            status=OrderStatus.CANCELED,
            order_id="o1",
        )
    )
    assert state.open_orders == {}
    assert state.projected(BTC) == D("0.3")


def test_close_order_removes_only_that_order() -> None:
    state = (
        AccountRiskState()
        .accept(validated(order_id="o1"), D(60000), WINDOW)
        .accept(validated(order_id="o2"), D(60000), WINDOW)
    )
    rejection = OrderRejected(
        order_id="o1",
        account_id="acct-1",
        symbol=BTC,
        side=Side.BUY,
        reason=RejectReason.NO_LIQUIDITY,
        detail="nothing",
    )
    closed = state.close_order(rejection)
    assert set(closed.open_orders) == {"o2"}


def test_projected_and_gross_exposure() -> None:
    state = filled("0.5", "60000")  # BTC long 0.5, last fill 60000
    state = state.accept(validated(order_id="o-sell", side=Side.SELL, quantity=D("0.2")), D(60000), WINDOW)
    state = state.accept(validated(order_id="o-eth", symbol=ETH, quantity=D(2)), D(3000), WINDOW)
    assert state.projected(BTC) == D("0.3")
    assert state.projected(ETH) == D(2)
    assert state.projected("XRP/USDT") == 0
    # BTC at its last fill price 60000 (no price given): 0.3 x 60000 = 18000; ETH 2 x 3100 = 6200
    assert state.gross_exposure({ETH: D(3100)}) == D(24200)
    # with a BTC price: 0.3 x 62000 = 18600
    assert state.gross_exposure({BTC: D(62000), ETH: D(3100)}) == D(24800)
    # ETH has no price and no fill yet: it counts 0
    assert state.gross_exposure({}) == D(18000)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"order_type": "stop_market", "stop_price": D(61000)}, "stop_market orders"),
        ({"limit_price": D(60000), "post_only": True}, "post_only"),
        ({"reduce_only": True}, "reduce_only"),
        ({"limit_price": D(60000), "expire_at": T0 + ms(1000)}, "expire_at"),
    ],
)
def test_instructions_not_executed_yet_are_refused(overrides: dict[str, Any], named: str) -> None:
    """Until the order stage runs the lifecycle, a stop is not executed as a market order (nor a post-only
    order as a taker): it is refused, with what is missing."""
    refusal = check(request(**overrides))
    assert isinstance(refusal, Rejection)
    assert refusal.reason is RejectReason.UNSUPPORTED_ORDER
    assert refusal.detail == f"not executed yet: {named}"


@pytest.mark.parametrize(
    ("overrides", "executed"),
    [
        ({"limit_price": D(60000), "post_only": True}, True),
        ({"limit_price": D(60000), "expire_at": T0 + ms(1000)}, True),
        ({"order_type": "stop_market", "stop_price": D(61000)}, True),
        ({"reduce_only": True}, False),  # nothing to reduce: no position
    ],
)
def test_with_the_paper_engine_resting_instructions_pass_and_reduce_only_needs_a_position(
    overrides: dict[str, Any], executed: bool
) -> None:
    result = check_order(
        request(**overrides), AccountRiskState(), hand_catalog(), PRICES, LIMITS, engine=True
    )
    assert isinstance(result, OrderValidated) is executed
    if not executed:
        assert isinstance(result, Rejection)
        assert result.reason is RejectReason.REDUCE_ONLY


def test_with_the_paper_engine_a_stop_limit_keeps_its_limit_and_its_stop() -> None:
    result = check_order(
        request(order_type="stop_limit", stop_price=D(61000), limit_price=D("61010.005")),
        AccountRiskState(),
        hand_catalog(),
        PRICES,
        LIMITS,
        engine=True,
    )
    assert isinstance(result, OrderValidated)
    # The limit rounded to the tick toward the safe side (down for a buy); the stop price as asked.
    assert (result.order_type, result.limit_price, result.stop_price) == (
        "stop_limit",
        D("61010.00"),
        D(61000),
    )
