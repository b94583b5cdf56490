"""The order stage's hand-off to the paper matching engine (`ZVT_PAPER_ENGINE`): which orders go, as one
leg, with its command; the strategies' progress forwarded as the partition's order watermark, held before
a parked order; what comes back closes the order in risk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents import orders
from agents.context import catalog
from agents.market_view import MarketView
from agents.orders import _apply_outcome, engine_commands, rests_on_engine
from agents.settings import get_trading_config
from agents.stage import Batch, Item, RecentKeys, Stored
from schemas import (
    CODEC,
    AmendPaperOrder,
    BookLevel,
    CancelPaperOrder,
    CancelReason,
    Event,
    ExchangeRouted,
    ModifyRejectReason,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrdersDecidedThrough,
    OrderStatus,
    OrderValidated,
    PaperOrdersThrough,
    PaperRiskOutcomesThrough,
    PriceUpdated,
    RejectReason,
    SubmitPaperOrder,
)
from tests.unit.agents.test_stage import RecordingOutbox
from tests.unit.trading.builders import T0, D, executed, ms, request, routed, validated
from topics import Topics
from trading.ids import derived_id
from trading.risk import AccountRiskState
from venues.paper import PaperVenue


@pytest.mark.parametrize(
    ("terms", "rests"),
    [
        ({"limit_price": D(100)}, True),  # GTC by default
        ({"limit_price": D(100), "post_only": True}, True),
        ({"limit_price": D(100), "time_in_force": "ioc"}, False),
        ({"limit_price": D(100), "time_in_force": "fok"}, False),
        ({}, False),  # market
        ({"order_type": "stop_market", "stop_price": D(101)}, True),
        ({"order_type": "stop_limit", "stop_price": D(101), "limit_price": D(102)}, True),
    ],
)
def test_only_orders_that_may_rest_go_to_the_engine(terms: dict[str, object], rests: bool) -> None:
    assert rests_on_engine(validated(**terms)) is rests


def test_a_resting_order_goes_as_one_leg_with_its_command() -> None:
    split = routed({"alpha": "0.3", "beta": "0.2"}, limit_price=D(100))
    one, command = engine_commands(split)
    assert [(leg.venue, leg.quantity) for leg in one.legs] == [("alpha", D("0.5"))]
    assert one.event_id == split.event_id  # the same routing decision, published once
    assert isinstance(command, SubmitPaperOrder)
    assert command.order_terms() == split.order_terms()
    assert command.legs == one.legs
    assert (command.event_id, command.causation_id, command.correlation_id) == (
        derived_id(split.event_id, "paper"),
        split.event_id,
        split.correlation_id,
    )
    assert Topics.PAPER_COMMANDS.key_for(command) == b"BTC/USDT"
    # Deciding again gives the same event (a redo after a crash is dropped downstream).
    assert engine_commands(split)[1].event_id == command.event_id


def _open(quantity: str) -> AccountRiskState:
    order = validated(limit_price=D(100), quantity=D(quantity))
    return AccountRiskState().accept(order, D(100), timedelta(seconds=1))


def test_engine_fills_count_until_the_order_ends_and_a_cancel_or_expiry_closes_it() -> None:
    """The engine's outcomes carry their market time: each counts for the checks of orders decided
    after it (`as_of`), however early it arrived."""
    fill = executed(quantity="0.2", price="100", cumulative="0.2", remaining="0.3",
                    status=OrderStatus.PARTIALLY_FILLED, market_time=T0 + ms(10))  # fmt: skip
    state = _apply_outcome(_open("0.5"), fill)
    assert state.as_of(T0 + ms(10)).positions == {}  # not before a check after its time
    after_fill = state.as_of(T0 + ms(11))
    assert after_fill.positions == {"BTC/USDT": D("0.2")}
    assert after_fill.open_orders["ord-1"].signed_remaining == D("0.3")
    fields = {"order_id": "ord-1", "account_id": "acct-1", "symbol": "BTC/USDT", "side": "buy"}
    canceled = OrderCanceled(
        **fields,
        reason=CancelReason.REQUESTED,
        canceled_quantity=D("0.3"),
        cumulative_quantity=D("0.2"),
        canceled_at=T0 + ms(20),
    )
    assert set(_apply_outcome(state, canceled).as_of(T0 + ms(20)).open_orders) == {"ord-1"}
    assert _apply_outcome(state, canceled).as_of(T0 + ms(21)).open_orders == {}
    expired = OrderExpired(
        **fields, expired_quantity=D("0.3"), cumulative_quantity=D("0.2"), expire_at=T0 + ms(30)
    )
    ended = _apply_outcome(state, expired).as_of(T0 + ms(31))
    assert (ended.open_orders, ended.positions) == ({}, {"BTC/USDT": D("0.2")})
    # Without a market time (a live venue's cancel) it is in force at once.
    at_once = canceled.model_copy(update={"canceled_at": None})
    assert _apply_outcome(_open("0.5"), at_once).open_orders == {}


def test_the_order_stage_reads_the_engines_outcomes_only_with_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Off:
        paper_engine = False

    monkeypatch.setattr(orders, "get_agent_settings", lambda: Off())
    assert set(orders._inputs()) == {Topics.ORDERS_REQUESTED}  # off: as before (no live venues here)

    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    assert orders._inputs()[Topics.ORDERS_REQUESTED] == (OrderRequested, OrdersDecidedThrough)
    assert set(orders._inputs()) == {
        Topics.ORDERS_REQUESTED,
        Topics.ORDERS_ACCEPTED,
        Topics.ORDERS_EXECUTED,
        Topics.ORDERS_REJECTED,
        Topics.ORDERS_CANCELED,
        Topics.PAPER_OUTCOMES,
        Topics.ORDER_CHANGES_REQUESTED,
    }


def _view_with_binance_book() -> MarketView:
    view = MarketView()
    view.apply(PriceUpdated(venue="binance", symbol="BTC/USDT", price=D(60000), market_time=T0))
    view.apply(
        OrderBookUpdated(
            venue="binance",
            symbol="BTC/USDT",
            bids=(BookLevel(price=D(59999), size=D(1)),),
            asks=(BookLevel(price=D(60001), size=D(1)),),
            sequence=1,
            market_time=T0,
        )
    )
    return view


def _use_view(monkeypatch: pytest.MonkeyPatch, view: MarketView) -> None:
    """The order stage judges, routes and (immediate orders) fills on `view`, with the configured venues
    all paper (config/trading.toml) and the shared ccxt catalog."""
    config = get_trading_config()
    paper = {
        name: PaperVenue(name, catalog(), view.book_as_of, config.paper.latency_ms) for name in config.venues
    }
    monkeypatch.setattr(orders, "market_view", view)
    monkeypatch.setattr(orders, "venues", lambda: paper)


def test_with_the_setting_a_gtc_limit_request_goes_to_the_paper_venue_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the order stage's whole pass (risk, routing, hand-off) with the configured catalog."""

    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    _use_view(monkeypatch, _view_with_binance_book())
    order = request(limit_price=D("59990"), quantity=D("0.01"), market_time=T0 + timedelta(seconds=1))
    state, outputs = orders.handle_request(order, AccountRiskState(), orders.UsedOrderIds(None, "acct-1"))
    validated_, routed_, command = outputs  # the watermark is the strategies' progress, forwarded
    assert isinstance(validated_, OrderValidated)
    assert isinstance(routed_, ExchangeRouted)
    assert [(leg.venue, leg.quantity) for leg in routed_.legs] == [("binance", D("0.01"))]
    assert isinstance(command, SubmitPaperOrder)
    assert (command.limit_price, command.quantity, command.time_in_force) == (D("59990"), D("0.01"), "gtc")
    # Open, counting toward exposure, until the engine's outcome comes back; its cancels go to binance.
    assert state.open_orders["ord-1"].signed_remaining == D("0.01")
    assert state.open_orders["ord-1"].venue == "binance"


def test_with_the_setting_a_market_order_is_still_filled_in_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    _use_view(monkeypatch, _view_with_binance_book())
    order = request(quantity=D("0.01"), market_time=T0 + timedelta(seconds=1))
    state, outputs = orders.handle_request(order, AccountRiskState(), orders.UsedOrderIds(None, "acct-1"))
    assert not any(isinstance(event, SubmitPaperOrder | PaperOrdersThrough) for event in outputs)
    (fill,) = [event for event in outputs if isinstance(event, OrderExecuted)]
    assert (fill.venue, fill.fill_quantity, fill.fill_price, fill.status) == (
        "binance",
        D("0.01"),
        D(60001),
        "filled",
    )
    assert state.open_orders == {}
    assert state.positions == {"BTC/USDT": D("0.01")}


def test_with_the_setting_a_post_only_order_routed_to_a_live_venue_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Risk lets post-only through for the engine; a live venue would take with it: refused after routing."""

    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    _use_view(monkeypatch, _view_with_binance_book())
    monkeypatch.setattr(orders, "_all_paper", lambda routed: False)  # as if binance traded live
    monkeypatch.setattr(orders, "paper_reports", lambda routed: None)
    order = request(
        limit_price=D("59990"), quantity=D("0.01"), post_only=True, market_time=T0 + timedelta(seconds=1)
    )
    state, outputs = orders.handle_request(order, AccountRiskState(), orders.UsedOrderIds(None, "acct-1"))
    assert [event.event_type for event in outputs] == ["order.validated", "exchange.routed", "order.rejected"]
    refused = outputs[-1]
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.UNSUPPORTED_ORDER
    assert refused.detail == "not executed on a live venue yet: post_only"
    assert state.open_orders == {}


def test_with_the_setting_a_stop_goes_to_the_paper_venue_stage_with_its_stop_price(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    _use_view(monkeypatch, _view_with_binance_book())
    order = request(
        order_type="stop_market",
        stop_price=D(60500),
        quantity=D("0.01"),
        market_time=T0 + timedelta(seconds=1),
    )
    _, outputs = orders.handle_request(order, AccountRiskState(), orders.UsedOrderIds(None, "acct-1"))
    assert [event.event_type for event in outputs] == [
        "order.validated",
        "exchange.routed",
        "paper.submit_order",
    ]
    command = outputs[2]
    assert isinstance(command, SubmitPaperOrder)
    assert (command.order_type, command.stop_price, command.trigger_source) == (
        "stop_market",
        D(60500),
        "trade",
    )
    assert [leg.venue for leg in command.legs] == ["binance"]


def _resting_on(venue: str | None) -> AccountRiskState:
    state = _open("0.5")
    return state.on_venue("ord-1", venue) if venue else state


def test_a_cancel_of_an_order_resting_on_a_paper_engine_is_forwarded_to_it() -> None:
    ask = OrderCancelRequested(order_id="ord-1", account_id="acct-1", market_time=T0, detail="by hand")
    (command,) = orders.forward_change(ask, _resting_on("binance"))
    assert isinstance(command, CancelPaperOrder)
    assert (command.order_id, command.symbol, command.venue, command.market_time, command.detail) == (
        "ord-1",
        "BTC/USDT",
        "binance",
        T0,
        "by hand",
    )
    assert (command.event_id, command.causation_id, command.correlation_id) == (
        derived_id(ask.event_id, "paper"),
        ask.event_id,
        ask.correlation_id,
    )


def test_an_amend_is_forwarded_with_its_new_terms() -> None:
    ask = OrderAmendRequested(order_id="ord-1", account_id="acct-1", quantity=D("0.8"), market_time=T0)
    (command,) = orders.forward_change(ask, _resting_on("binance"))
    assert isinstance(command, AmendPaperOrder)
    assert (command.quantity, command.limit_price, command.venue) == (D("0.8"), None, "binance")


@pytest.mark.parametrize(
    "order_id",
    ["ord-1", "ord-7"],  # open on a live venue (no engine holds it); never seen in this account
)
def test_a_cancel_of_an_order_not_resting_on_an_engine_is_answered_not_dropped(order_id: str) -> None:
    ask = OrderCancelRequested(order_id=order_id, account_id="acct-1")
    (answer,) = orders.forward_change(ask, _resting_on(None))
    assert isinstance(answer, OrderCancelRejected)
    assert answer.reason is ModifyRejectReason.UNKNOWN_ORDER
    assert answer.detail == f"{order_id} is not working on a paper venue for acct-1"
    assert Topics.for_event(type(answer)) is Topics.ORDER_CHANGES_REJECTED


def test_risk_state_without_the_engine_encodes_as_before() -> None:
    """`OpenOrder.venue` is left out while empty: the order stage's changelog is unchanged when off."""
    assert "venue" not in _open("0.5").model_dump_json()
    assert '"venue":"binance"' in _resting_on("binance").model_dump_json()


# --- the order watermark: the strategies' progress, forwarded in sequence with the partition's orders ---


def _mark(symbol: str, when: timedelta, partition: int = 0) -> OrdersDecidedThrough:
    return OrdersDecidedThrough(symbol=symbol, through=T0 + when, partition=partition)


def _on(topic_partition: int, offset: int, event: OrderRequested | OrdersDecidedThrough) -> Item:
    return Item(Topics.ORDERS_REQUESTED, topic_partition, offset, b"", b"", event)


def _run(work: list[Item]) -> tuple[list[Event], list[Item], RecordingOutbox]:
    """One batch of the order stage's handler over `work`: what it published and what it parked."""
    outbox = RecordingOutbox()
    batch: Batch[AccountRiskState] = Batch(orders.stage, outbox)  # type: ignore[arg-type]
    for item in work:
        orders.stage._apply(item, batch)
    published = [CODEC.decode(value) for _, _, value, _ in outbox.records if value]  # a dead letter: b""
    return published, batch.parked, outbox


def test_an_idle_partition_forwards_the_strategies_progress_as_its_watermark() -> None:
    published, parked, outbox = _run([_on(4, 0, _mark("BTC/USDT", timedelta(seconds=2), partition=4))])
    (mark,) = published
    assert isinstance(mark, PaperOrdersThrough)
    assert (mark.symbol, mark.source, mark.through) == ("BTC/USDT", "orders.4", T0 + timedelta(seconds=2))
    assert outbox.records[0][0].endswith("paper.commands")
    assert outbox.records[0][1] == b"BTC/USDT"
    assert parked == []


def test_a_parked_order_holds_its_symbols_watermark_just_before_it_until_it_is_handled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting = {"yes": True}
    monkeypatch.setattr(orders, "_should_wait", lambda request: waiting["yes"])  # the market of its time
    monkeypatch.setattr(orders, "handle_request", lambda request, state, used: (state, []))
    order = request(quantity=D("0.01"), market_time=T0 + timedelta(seconds=1))
    work = [
        _on(0, 0, order),
        _on(0, 1, _mark("BTC/USDT", timedelta(seconds=2))),
        _on(0, 2, _mark("ETH/USDT", timedelta(seconds=2))),
    ]
    published, parked, _ = _run(work)
    assert [(m.symbol, m.through) for m in published if isinstance(m, PaperOrdersThrough)] == [
        ("BTC/USDT", T0 + timedelta(seconds=1) - timedelta(microseconds=1)),  # the order may still come
        ("ETH/USDT", T0 + timedelta(seconds=2)),  # another symbol's: not held
    ]
    assert [item.offset for item in parked] == [0, 1]  # the order, and the mark to say the rest
    waiting["yes"] = False
    published, parked, _ = _run(parked)
    assert [(m.symbol, m.through) for m in published if isinstance(m, PaperOrdersThrough)] == [
        ("BTC/USDT", T0 + timedelta(seconds=2))
    ]
    assert parked == []


def test_a_progress_mark_read_on_another_partition_is_dead_lettered() -> None:
    published, _, outbox = _run([_on(0, 0, _mark("BTC/USDT", timedelta(seconds=2), partition=3))])
    assert not any(isinstance(event, PaperOrdersThrough) for event in published)
    assert outbox.records[0][0].endswith("orders.requested.dead-letter")


def _windows_after(*events: Event) -> dict[tuple[str, int], RecentKeys]:
    """The stage's windows of partition 2 once `events` were applied (each on its registry topic)."""
    windows: dict[tuple[str, int], RecentKeys] = {}
    for event in events:
        window = windows.setdefault((Topics.for_event(type(event)).name, 2), RecentKeys(100))
        for key in orders._window_keys(event):
            window.add(key)
    return windows


_FIELDS = {"order_id": "ord-1", "account_id": "acct-1", "symbol": "BTC/USDT", "side": "buy"}


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        (
            executed(quantity="0.5", price="100", cumulative="0.5", remaining="0", status=OrderStatus.FILLED),
            ModifyRejectReason.ALREADY_FILLED,
        ),
        (
            OrderCanceled(
                **_FIELDS, reason=CancelReason.REQUESTED, canceled_quantity=D("0.5"), cumulative_quantity=D(0)
            ),
            ModifyRejectReason.ALREADY_CANCELED,
        ),
        (
            OrderExpired(**_FIELDS, expired_quantity=D("0.5"), cumulative_quantity=D(0), expire_at=T0),
            ModifyRejectReason.ALREADY_EXPIRED,
        ),
        (
            OrderRejected(**_FIELDS, reason=RejectReason.NO_LIQUIDITY, detail="nothing"),
            ModifyRejectReason.ALREADY_REJECTED,
        ),
    ],
)
def test_a_cancel_of_an_order_that_ended_is_answered_how_it_ended(
    outcome: OrderExecuted | OrderCanceled | OrderExpired | OrderRejected, answer: ModifyRejectReason
) -> None:
    windows = _windows_after(outcome)
    assert orders.ended_reason(windows, "acct-1", "ord-1", 2) is answer
    assert orders.ended_reason(windows, "acct-1", "ord-1", 3) is None  # another partition's accounts
    assert orders.ended_reason(windows, "acct-2", "ord-1", 2) is None
    ask = OrderCancelRequested(order_id="ord-1", account_id="acct-1")
    (refused,) = orders.forward_change(ask, AccountRiskState(), ended=answer)
    assert isinstance(refused, OrderCancelRejected)
    assert (refused.reason, refused.causation_id) == (answer, ask.event_id)


def test_a_partial_fill_does_not_end_the_order_and_an_open_order_is_still_forwarded() -> None:
    partial = executed(
        quantity="0.2", price="100", cumulative="0.2", remaining="0.3", status=OrderStatus.PARTIALLY_FILLED
    )
    assert orders.ended_reason(_windows_after(partial), "acct-1", "ord-1", 2) is None
    ask = OrderCancelRequested(order_id="ord-1", account_id="acct-1")
    (command,) = orders.forward_change(ask, _resting_on("binance"), ModifyRejectReason.ALREADY_FILLED)
    assert isinstance(command, CancelPaperOrder)  # open in risk: the engine decides, not the window


def test_a_request_waits_for_the_engines_outcomes_before_its_time_then_is_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The account rests an order on BTC/USDT: a request decided at 1 s is judged only once this
    partition's copy of the engines' outcome watermark passed every outcome before 1 s; its risk counts
    the engine outcomes from their copies on paper.outcomes, not from the order topics."""

    class On:
        paper_engine = True
        market_settle_max_seconds = 30.0

    judged: list[str] = []
    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    monkeypatch.setattr(orders, "_should_wait", lambda request: False)
    monkeypatch.setattr(orders, "_outcomes_through", {})

    def handle(r: OrderRequested, state: AccountRiskState, _: object) -> tuple[AccountRiskState, list[Event]]:
        judged.append(r.order_id)
        return state, []

    monkeypatch.setattr(orders, "handle_request", handle)
    assert orders.stage.store is not None
    monkeypatch.setattr(orders.stage.store, "partitions", {0: {}})
    resting = _resting_on("binance")
    orders.stage.store.partitions[0]["acct-1"] = Stored({}, resting)
    later = request(order_id="ord-2", quantity=D("0.01"), market_time=T0 + timedelta(seconds=1))
    _, parked, _ = _run([_on(0, 0, later)])
    assert [item.offset for item in parked] == [0]
    assert judged == []

    def copy(through: timedelta) -> Item:
        mark = PaperRiskOutcomesThrough(symbol="BTC/USDT", through=T0 + through, partition=0)
        return Item(Topics.PAPER_OUTCOMES, 0, int(through / ms(1)), b"", b"", mark)

    _, parked, _ = _run([*parked, copy(timedelta(seconds=1) - timedelta(microseconds=2))])
    assert [item.offset for item in parked] == [0]  # not through every outcome before 1 s yet
    _, parked, _ = _run([*parked, copy(timedelta(seconds=1) - timedelta(microseconds=1))])
    _, parked, _ = _run(parked)  # handed back with the next batch
    assert parked == []
    assert judged == ["ord-2"]
    fill = executed(quantity="0.5", price="60000", cumulative="0.5", remaining="0", status=OrderStatus.FILLED,
                    market_time=T0 + ms(500))  # fmt: skip
    assert orders.counted_from_paper_outcomes(fill)
    assert not orders.counted_from_paper_outcomes(fill.model_copy(update={"market_time": None}))
