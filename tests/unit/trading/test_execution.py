"""Lifecycle events from what the venues reported for a routed order."""

from __future__ import annotations

from decimal import Decimal

from schemas import Event, OrderCreated, OrderExecuted, OrderRejected, OrderStatus, RejectReason
from schemas.primitives import Liquidity
from tests.unit.trading.builders import D, routed
from trading.execution import LegReport, VenueFill, execution_events
from trading.ids import derived_id


def fill(fill_id: str, quantity: str, price: str = "100", fee: str = "0.1") -> VenueFill:
    return VenueFill(fill_id=fill_id, quantity=D(quantity), price=D(price), fee=D(fee), fee_currency="USDT")


def executions(events: list[Event]) -> list[OrderExecuted]:
    return [event for event in events if isinstance(event, OrderExecuted)]


def progress(events: list[Event]) -> list[tuple[str, Decimal, Decimal, OrderStatus]]:
    return [(e.venue, e.cumulative_quantity, e.remaining_quantity, e.status) for e in executions(events)]


def test_single_full_fill() -> None:
    order = routed({"alpha": "1"}, limit_price=D("100.5"))
    events = execution_events(order, [LegReport("alpha", D(1), "v-1", fills=(fill("f1", "1", "100.25"),))])
    assert [type(e) for e in events] == [OrderCreated, OrderExecuted]
    created, executed = events
    assert isinstance(created, OrderCreated)
    assert (created.venue, created.venue_order_id, created.quantity) == ("alpha", "v-1", D(1))
    assert created.limit_price == D("100.5")
    assert created.market_time == order.market_time
    assert isinstance(executed, OrderExecuted)
    assert executed.status is OrderStatus.FILLED
    assert (executed.fill_quantity, executed.fill_price, executed.fee) == (D(1), D("100.25"), D("0.1"))
    assert (executed.cumulative_quantity, executed.remaining_quantity) == (D(1), D(0))
    assert executed.liquidity is Liquidity.TAKER
    assert executed.fee_currency == "USDT"
    for event in events:
        assert isinstance(event, OrderCreated | OrderExecuted)
        assert (event.order_id, event.account_id, event.strategy_id) == ("ord-1", "acct-1", "strat-1")
        assert (event.symbol, event.side) == (order.symbol, order.side)


def test_two_legs_partially_then_filled() -> None:
    order = routed({"alpha": "0.6", "beta": "0.4"})
    reports = [
        LegReport("alpha", D("0.6"), "a-1", fills=(fill("f1", "0.25"), fill("f2", "0.35"))),
        LegReport("beta", D("0.4"), "b-1", fills=(fill("f1", "0.4"),)),
    ]
    events = execution_events(order, reports)
    assert [type(e) for e in events] == [
        OrderCreated,
        OrderCreated,
        OrderExecuted,
        OrderExecuted,
        OrderExecuted,
    ]
    assert progress(events) == [
        ("alpha", D("0.25"), D("0.75"), OrderStatus.PARTIALLY_FILLED),
        ("alpha", D("0.60"), D("0.40"), OrderStatus.PARTIALLY_FILLED),
        ("beta", D("1.00"), D("0.00"), OrderStatus.FILLED),
    ]


def test_fills_short_of_the_quantity_end_canceled() -> None:
    order = routed({"alpha": "0.6", "beta": "0.4"})
    reports = [
        LegReport("alpha", D("0.6"), "a-1", fills=(fill("f1", "0.5"),)),
        LegReport("beta", D("0.4"), "b-1", fills=(fill("f1", "0.3"),)),
    ]
    assert progress(execution_events(order, reports)) == [
        ("alpha", D("0.5"), D("0.5"), OrderStatus.PARTIALLY_FILLED),
        ("beta", D("0.8"), D("0.2"), OrderStatus.CANCELED),
    ]


def test_one_short_fill_alone_is_canceled() -> None:
    order = routed({"alpha": "1"})
    events = execution_events(order, [LegReport("alpha", D(1), "a-1", fills=(fill("f1", "0.4"),))])
    assert progress(events) == [("alpha", D("0.4"), D("0.6"), OrderStatus.CANCELED)]


def test_no_fills_is_rejected_for_no_liquidity() -> None:
    order = routed({"alpha": "0.6", "beta": "0.4"})
    events = execution_events(
        order, [LegReport("alpha", D("0.6"), "a-1"), LegReport("beta", D("0.4"), "b-1")]
    )
    assert [type(e) for e in events] == [OrderCreated, OrderCreated, OrderRejected]
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.NO_LIQUIDITY
    assert rejected.order_id == "ord-1"
    assert rejected.event_id == derived_id(order.event_id, "rejected")


def test_all_legs_refused_is_venue_rejected() -> None:
    order = routed({"alpha": "0.6", "beta": "0.4"})
    reports = [
        LegReport("alpha", D("0.6"), None, refusal="insufficient balance"),
        LegReport("beta", D("0.4"), None, refusal="market closed"),
    ]
    events = execution_events(order, reports)
    assert [type(e) for e in events] == [OrderRejected]
    rejected = events[0]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.VENUE_REJECTED
    assert rejected.detail == "alpha: insufficient balance; beta: market closed"


def test_long_refusals_are_cut_to_the_detail_limit() -> None:
    order = routed({"alpha": "1"})
    events = execution_events(order, [LegReport("alpha", D(1), None, refusal="x" * 2000)])
    assert isinstance(events[0], OrderRejected)
    assert len(events[0].detail) == 1000


def test_event_ids_are_deterministic_and_caused_by_the_routed_event() -> None:
    order = routed({"alpha": "0.6", "beta": "0.4"})
    reports = [
        LegReport("alpha", D("0.6"), "a-1", fills=(fill("f1", "0.6"),)),
        LegReport("beta", D("0.4"), "b-1", fills=(fill("f1", "0.4"),)),
    ]
    first = execution_events(order, reports)
    second = execution_events(order, reports)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert [e.model_dump(exclude={"timestamp"}) for e in first] == [
        e.model_dump(exclude={"timestamp"}) for e in second
    ]
    assert [e.event_id for e in first] == [
        derived_id(order.event_id, "created:alpha"),
        derived_id(order.event_id, "created:beta"),
        derived_id(order.event_id, "fill:alpha:f1"),
        derived_id(order.event_id, "fill:beta:f1"),  # same fill id on another venue: another event
    ]
    assert len({e.event_id for e in first}) == 4
    for event in first:
        assert event.causation_id == order.event_id
        assert event.correlation_id == order.correlation_id
    # another routed order with the same terms gets other ids
    other = execution_events(routed({"alpha": "0.6", "beta": "0.4"}), reports)
    assert not {e.event_id for e in other} & {e.event_id for e in first}


def test_correlation_of_a_caused_routed_order_is_kept() -> None:
    root = routed({"alpha": "1"})
    child = root.caused(type(root), **root.model_dump(exclude={"event_id", "correlation_id", "causation_id"}))
    events = execution_events(child, [LegReport("alpha", D(1), None, refusal="no")])
    assert events[0].correlation_id == root.event_id
    assert events[0].causation_id == child.event_id
