"""`zvt cancel` / `zvt orders`' pure parts: an order read back from its stored events (in whatever order
the sink stored them), the change request in its chain, and the answer found among its events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from eventstore.orders import amend_request, cancel_request, order_view
from eventstore.store import NewEvent, StoredEvent, plan_append
from schemas import (
    CancelPaperOrder,
    CancelReason,
    Event,
    ModifyRejectReason,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderValidated,
)
from schemas.primitives import Liquidity
from tests.unit.trading.builders import T0, D, request
from trading.ids import derived_id
from trading.order_lifecycle import OrderLifecycle, refusal
from zvt.order_changes import answer_of

LATER = T0 + timedelta(seconds=3)


def _resting_flow(fill: str | None = None) -> list[Event]:
    """requested -> validated -> accepted (resting 0.5 at 100) [-> a maker fill of `fill` at LATER]."""
    first = request(limit_price=D(100), quantity=D("0.5"))
    passed = first.caused(OrderValidated, **first.order_terms())
    order = OrderLifecycle.requested(first).apply(passed)
    accepted = order.accept("binance", "paper-1", D("0.5"), T0 + timedelta(milliseconds=50), "rests")
    events: list[Event] = [first, passed, accepted.event]
    if fill is not None:
        events.append(
            accepted.order.fill("binance", D(fill), D(100), D(0), "USDT", Liquidity.MAKER, LATER).event
        )
    return events


def _stored(events: Sequence[Event]) -> tuple[StoredEvent, ...]:
    return plan_append(
        [NewEvent.of(e) for e in events], stored_ids=set(), versions={}, expected_versions={}, last_position=0
    ).stored


def test_a_resting_order_is_open_with_its_terms_whatever_order_the_rows_were_stored_in() -> None:
    events = _resting_flow()
    for stored in (_stored(events), _stored(list(reversed(events)))):
        view = order_view(stored)
        assert view is not None
        assert (view.order_id, view.account_id, view.symbol, view.side, view.order_type) == (
            "ord-1",
            "acct-1",
            "BTC/USDT",
            "buy",
            "limit",
        )
        assert (view.quantity, view.limit_price, view.filled, view.venue, view.state) == (
            D("0.5"),
            D(100),
            D(0),
            "binance",
            "accepted",
        )
        assert view.correlation_id == events[0].correlation_id
        assert view.last_event_id == events[-1].event_id
        assert view.last_market_time == T0 + timedelta(milliseconds=50)


def test_fills_move_it_to_partially_filled_then_filled() -> None:
    partly = order_view(_stored(_resting_flow("0.2")))
    assert partly is not None
    assert (partly.state, partly.filled, partly.last_market_time) == ("partially_filled", D("0.2"), LATER)
    whole = order_view(_stored(_resting_flow("0.5")))
    assert whole is not None
    assert whole.state == "filled"


def test_a_cancel_by_hand_is_in_the_orders_chain_with_no_market_time_unless_asked() -> None:
    events = _resting_flow("0.2")
    view = order_view(_stored(events))
    ask = cancel_request("ord-1", "acct-1", view)
    assert (ask.correlation_id, ask.causation_id) == (events[0].correlation_id, events[-1].event_id)
    assert (ask.strategy_id, ask.market_time) == ("strat-1", None)
    assert cancel_request("ord-1", "acct-1", view, at="order").market_time == LATER
    unknown = cancel_request("ord-9", "acct-1", None)
    assert (unknown.correlation_id, unknown.causation_id) == (unknown.event_id, None)  # a root
    amend = amend_request("ord-1", "acct-1", view, quantity=D("0.8"))
    assert (amend.quantity, amend.limit_price, amend.causation_id) == (D("0.8"), None, events[-1].event_id)


def test_the_answer_is_the_one_caused_by_the_request_or_by_the_command_forwarded_for_it() -> None:
    events = _resting_flow()
    view = order_view(_stored(events))
    ask = cancel_request("ord-1", "acct-1", view)
    other = cancel_request("ord-1", "acct-1", view)
    refused_other = refusal(other, ModifyRejectReason.ALREADY_CANCELED, "an earlier cancel")
    assert answer_of(_stored([*events, ask, refused_other]), ask) is None
    command = CancelPaperOrder(
        **ask.model_dump(exclude={"event_id", "event_type", "version", "timestamp", "causation_id"}),
        event_id=derived_id(ask.event_id, "paper"),
        causation_id=ask.event_id,
        symbol="BTC/USDT",
        venue="binance",
    )
    order = OrderLifecycle.replay(events)
    canceled = order.answer_cancel(command, LATER).event
    found = answer_of(_stored([*events, ask, command, canceled]), ask)
    assert found is not None
    assert found.event_id == canceled.event_id
    assert isinstance(found, OrderCanceled)
    assert found.reason is CancelReason.REQUESTED
    refused = refusal(ask, ModifyRejectReason.ALREADY_FILLED, "filled")
    assert answer_of(_stored([*events, ask, refused]), ask) == refused


def test_an_order_never_validated_or_unknown_has_no_view() -> None:
    assert order_view(_stored([])) is None
    accepted_only = [e for e in _resting_flow() if isinstance(e, OrderAccepted | OrderExecuted)]
    view = order_view(_stored(accepted_only))
    assert view is not None
    assert view.state == "accepted"  # the accepted event carries the terms
