"""The grid with the paper matching engine: GTC limit orders rest on its lines, the opposite order is
re-placed one line away when one fills, and what it no longer wants is canceled. Exact Decimals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from schemas import OrderCancelRequested, OrderRequested, OrderUpdateKind
from schemas.primitives import OrderType, Side, TimeInForce
from strategies import Roster, StrategiesConfig
from strategies.base import CancelIntent, OrderIntent, OwnOrder
from strategies.config import StrategySpec
from strategies.grid import Grid, GridParams, GridState, line_key, parse_key
from strategies.runner import StrategyInstance

from .outcomes import Driver, filled, update
from .support import START, price

D = Decimal
GRID = {"spacing": "10", "levels": 2, "quantity": "0.1"}


def resting_grid(**parameters: object) -> StrategyInstance:
    spec = StrategySpec(id="grid", kind="grid", account="acct-g", symbols=("BTC/USDT",),
                        reaction_delay_ms=500, parameters=GRID | parameters)  # fmt: skip
    (instance,) = Roster(StrategiesConfig(strategies=(spec,)), engine=True).instances
    return instance


def terms(events: list[OrderRequested | OrderCancelRequested]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for e in events:
        if isinstance(e, OrderCancelRequested):
            out.append(("cancel", e.order_id))
        else:
            assert (e.order_type, e.time_in_force) == (OrderType.LIMIT, TimeInForce.GTC)
            out.append((e.side.value, str(e.quantity), str(e.limit_price)))
    return out


def by_key(driver: Driver) -> dict[str, OrderRequested]:
    assert driver.slot is not None
    keys = {o.order_id: o.key for o in driver.slot.orders.values()}
    return {str(keys[r.order_id]): r for r in driver.requests() if r.order_id in keys}


def test_the_first_price_rests_a_buy_below_and_a_sell_above_on_every_line_but_the_gap() -> None:
    driver = Driver(resting_grid())
    driver.feed(price("100", 0))
    assert terms(driver.sent) == [
        ("buy", "0.1", "80"), ("buy", "0.1", "90"), ("sell", "0.1", "110"), ("sell", "0.1", "120"),
    ]  # fmt: skip
    assert driver.slot is not None
    assert driver.slot.state.gap == 0
    assert sorted(o.key or "" for o in driver.slot.orders.values()) == [
        "buy@-1",
        "buy@-2",
        "sell@1",
        "sell@2",
    ]
    driver.feed(price("95", 1))
    assert len(driver.sent) == 4  # a price alone changes nothing: the book works for the grid


def test_a_buy_filled_re_places_the_sell_one_line_above_and_a_sell_filled_the_buy_below() -> None:
    driver = Driver(resting_grid())
    driver.feed(price("100", 0))
    buy = by_key(driver)["buy@-1"]
    driver.feed(update(buy, OrderUpdateKind.ACCEPTED, at=START, remaining="0.1"))
    driver.feed(filled(buy, at=START + timedelta(seconds=2), price="90"))
    driver.feed(price("91", 2))  # 2 s < 2 s + 500 ms: not heard yet
    assert len(driver.sent) == 4
    driver.feed(price("92", 3))
    assert terms(driver.sent[4:]) == [("sell", "0.1", "100")]  # on the gap it left
    assert driver.slot is not None
    state = driver.slot.state
    assert (state.gap, state.position) == (-1, D("0.1"))
    sell = by_key(driver)["sell@0"]
    driver.feed(filled(sell, at=START + timedelta(seconds=4), price="100"))
    driver.feed(price("101", 5))
    assert terms(driver.sent[5:]) == [("buy", "0.1", "90")]
    state = driver.slot.state
    assert (state.gap, state.position) == (0, D(0))
    assert sorted(o.key or "" for o in driver.slot.orders.values()) == [
        "buy@-1",
        "buy@-2",
        "sell@1",
        "sell@2",
    ]


def test_a_partial_fill_moves_nothing_until_the_order_filled() -> None:
    driver = Driver(resting_grid())
    driver.feed(price("100", 0))
    sell = by_key(driver)["sell@1"]
    at = START + timedelta(seconds=1)
    driver.feed(update(sell, OrderUpdateKind.FILLED, at=at, fill="0.04", price="110", cumulative="0.04",
                       remaining="0.06"))  # fmt: skip
    driver.feed(price("110", 2))
    assert len(driver.sent) == 4
    assert driver.slot is not None
    assert (driver.slot.state.gap, driver.slot.state.position) == (0, D("-0.04"))
    assert driver.slot.orders[sell.order_id].filled == D("0.04")
    driver.feed(update(sell, OrderUpdateKind.FILLED, at=at + timedelta(seconds=1), fill="0.06", price="110",
                       cumulative="0.1", ended=True))  # fmt: skip
    driver.feed(price("111", 3))
    assert terms(driver.sent[4:]) == [("buy", "0.1", "100")]
    assert (driver.slot.state.gap, driver.slot.state.position) == (1, D("-0.1"))


def test_an_order_ended_unfilled_is_not_placed_again_until_the_gap_moves() -> None:
    driver = Driver(resting_grid())
    driver.feed(price("100", 0))
    refused = by_key(driver)["sell@2"]
    driver.feed(update(refused, OrderUpdateKind.REJECTED, at=None, ended=True))
    driver.feed(price("100", 1))
    driver.feed(price("100", 2))
    assert len(driver.sent) == 4  # no storm of refused orders
    buy = by_key(driver)["buy@-1"]
    driver.feed(filled(buy, at=START + timedelta(seconds=3), price="90"))
    driver.feed(price("90", 4))
    assert terms(driver.sent[4:]) == [("sell", "0.1", "100"), ("sell", "0.1", "120")]


def test_reconcile_cancels_what_the_gap_no_longer_wants_and_copies_on_one_line() -> None:
    grid = Grid(GridParams(spacing=D(10), levels=2, quantity=D("0.1")))
    grid.engine = True
    state = GridState(center=D(100), gap=-2)
    orders = {
        o.order_id: o
        for o in (
            OwnOrder(order_id="a", key="buy@-1", side=Side.BUY, quantity=D("0.1"), decided_at=START),
            OwnOrder(order_id="b", key="sell@1", side=Side.SELL, quantity=D("0.1"), decided_at=START),
            OwnOrder(order_id="c", key="sell@1", side=Side.SELL, quantity=D("0.1"), decided_at=START),
            OwnOrder(order_id="d", key="sell@2", side=Side.SELL, quantity=D("0.1"), decided_at=START,
                     cancel_requested=True),
        )
    }  # fmt: skip
    assert grid.reconcile(state, orders) == [
        CancelIntent(order_id="a"),  # a buy above the gap
        CancelIntent(order_id="c"),  # a second order on one line
        OrderIntent(side=Side.SELL, quantity=D("0.1"), limit_price=D(90), key="sell@-1"),
        OrderIntent(side=Side.SELL, quantity=D("0.1"), limit_price=D(100), key="sell@0"),
        OrderIntent(side=Side.SELL, quantity=D("0.1"), limit_price=D(120), key="sell@2"),  # d is going
    ]


def test_two_lines_filled_at_one_time_leave_the_gap_at_the_farther_one() -> None:
    driver = Driver(resting_grid())
    driver.feed(price("100", 0))
    keyed = by_key(driver)
    at = START + timedelta(seconds=1)
    for key in ("buy@-2", "buy@-1"):
        driver.feed(filled(keyed[key], at=at, price=str(keyed[key].limit_price)))
    driver.feed(price("79", 2))
    assert driver.slot is not None
    state = driver.slot.state
    assert (state.gap, state.position) == (-2, D("0.2"))
    working = sorted(o.key or "" for o in driver.slot.orders.values() if not o.cancel_requested)
    assert working == ["sell@-1", "sell@0", "sell@1", "sell@2"]


def test_keys_name_a_side_and_a_line() -> None:
    assert line_key(Side.SELL, -3) == "sell@-3"
    assert parse_key("sell@-3") == (Side.SELL, -3)
    assert parse_key("buy@x") is None
    assert parse_key(None) is None
    assert parse_key("hold@1") is None


def test_without_the_engine_the_grid_trades_market_orders_as_before() -> None:
    spec = StrategySpec(id="grid", kind="grid", account="acct-g", symbols=("BTC/USDT",), parameters=GRID)
    (instance,) = Roster(StrategiesConfig(strategies=(spec,))).instances
    driver = Driver(instance)
    driver.feed(price("100", 0))
    driver.feed(price("95", 1))
    (order,) = driver.requests()
    assert (order.order_type, order.side, order.quantity, order.limit_price) == (
        OrderType.MARKET, Side.BUY, D("0.1"), None,
    )  # fmt: skip
