"""The order state machine: every transition one event, illegal ones raise, cancels and amends answered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from schemas import (
    CancelReason,
    Event,
    ModifyRejectReason,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderValidated,
    RejectReason,
)
from schemas.primitives import Liquidity
from tests.unit.trading.builders import T0, D, executed, request
from trading.order_lifecycle import TRANSITIONS, IllegalTransition, OrderLifecycle, OrderState, refusal

AT = datetime(2024, 8, 9, 12, 0, 1, tzinfo=UTC)


def validated(first: OrderRequested) -> OrderLifecycle:
    """`first` requested, then passed by risk unchanged."""
    return OrderLifecycle.requested(first).apply(first.caused(OrderValidated, **first.order_terms()))


def working(quantity: str = "1") -> OrderLifecycle:
    """A GTC buy of `quantity` at 100 resting on alpha."""
    order = validated(request(limit_price=D(100), quantity=D(quantity)))
    return order.accept("alpha", "paper-alpha-ord-1", D(quantity), T0, "rests at 100").order


def fill(order: OrderLifecycle, quantity: str, price: str = "100") -> OrderLifecycle:
    return order.fill("alpha", D(quantity), D(price), D(0), "USDT", Liquidity.MAKER, AT).order


def test_requested_validated_accepted_partially_filled_filled() -> None:
    order = working("1")
    assert order.state is OrderState.ACCEPTED
    step = order.fill("alpha", D("0.4"), D(100), D("0.008"), "USDT", Liquidity.MAKER, AT)
    assert step.order.state is OrderState.PARTIALLY_FILLED
    assert isinstance(step.event, OrderExecuted)
    assert (step.event.cumulative_quantity, step.event.remaining_quantity) == (D("0.4"), D("0.6"))
    assert step.event.status is OrderStatus.PARTIALLY_FILLED
    last = step.order.fill("alpha", D("0.6"), D(100), D("0.012"), "USDT", Liquidity.MAKER, AT)
    assert last.order.state is OrderState.FILLED
    assert last.order.is_terminal
    assert isinstance(last.event, OrderExecuted)
    assert last.event.status is OrderStatus.FILLED


def test_replaying_the_events_rebuilds_the_same_order() -> None:
    first = request(limit_price=D(100), quantity=D(1))
    passed = first.caused(OrderValidated, **first.order_terms())
    order = OrderLifecycle.requested(first).apply(passed)
    events: list[Event] = []
    for step in (
        lambda o: o.accept("alpha", "v-1", D(1), T0, ""),
        lambda o: o.fill("alpha", D("0.25"), D(100), D(0), "USDT", Liquidity.TAKER, T0),
        lambda o: o.cancel(CancelReason.REQUESTED, "by hand", AT),
    ):
        transition = step(order)
        order = transition.order
        events.append(transition.event)
    assert OrderLifecycle.replay([first, passed, *events]) == order
    assert order.state is OrderState.CANCELED


def test_rejected_by_risk_or_on_arrival() -> None:
    order = OrderLifecycle.requested(request())
    refused = order.reject(RejectReason.MAX_POSITION, "too big")
    assert refused.order.state is OrderState.REJECTED
    assert isinstance(refused.event, OrderRejected)
    with pytest.raises(IllegalTransition):
        refused.order.accept("alpha", "v", D(1), T0, "")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda o: o.accept("alpha", "v", D(1), T0, ""), id="accepted twice"),
        pytest.param(lambda o: o.trigger("alpha", D(1), T0), id="trigger without a stop"),
        pytest.param(lambda o: fill(o, "1.5"), id="more filled than ordered"),
    ],
)
def test_illegal_transitions_raise(make: Callable[[OrderLifecycle], object]) -> None:
    with pytest.raises((IllegalTransition, AssertionError)):  # a trigger without a stop price asserts
        make(working("1"))


def test_nothing_follows_a_terminal_state() -> None:
    canceled = working().cancel(CancelReason.REQUESTED, "", AT).order
    with pytest.raises(IllegalTransition, match=r"order\.executed in state canceled"):
        fill(canceled, "0.1")
    with pytest.raises(IllegalTransition):
        canceled.cancel(CancelReason.REQUESTED, "", AT)
    assert all(not TRANSITIONS[state] for state in (OrderState.FILLED, OrderState.EXPIRED))


def test_a_cancel_of_a_working_order_cancels_its_remainder() -> None:
    order = fill(working("1"), "0.3")
    cancel_request = OrderCancelRequested(order_id="ord-1", account_id="acct-1", market_time=AT)
    answer = order.answer_cancel(cancel_request, AT)
    assert answer.order.state is OrderState.CANCELED
    assert isinstance(answer.event, OrderCanceled)
    assert (answer.event.canceled_quantity, answer.event.cumulative_quantity) == (D("0.7"), D("0.3"))
    assert answer.event.causation_id == cancel_request.event_id  # caused by the request it answers
    assert answer.event.correlation_id == order.correlation_id  # and in the order's flow


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (lambda o: fill(o, "1"), ModifyRejectReason.ALREADY_FILLED),
        (lambda o: o.cancel(CancelReason.REQUESTED, "", AT).order, ModifyRejectReason.ALREADY_CANCELED),
        (lambda o: o.reject(RejectReason.NO_LIQUIDITY, "").order, ModifyRejectReason.ALREADY_REJECTED),
    ],
)
def test_a_cancel_of_an_ended_order_is_answered_with_the_reason(
    end: Callable[[OrderLifecycle], OrderLifecycle], reason: ModifyRejectReason
) -> None:
    base = working("1")
    if reason is ModifyRejectReason.ALREADY_REJECTED:
        base = OrderLifecycle.requested(request())
    ended = end(base)
    cancel_request = OrderCancelRequested(order_id="ord-1", account_id="acct-1")
    answer = ended.answer_cancel(cancel_request, AT)
    assert answer.order is ended
    assert isinstance(answer.event, OrderCancelRejected)
    assert answer.event.reason is reason


def test_a_cancel_of_an_unknown_order_is_answered() -> None:
    cancel_request = OrderCancelRequested(order_id="nope", account_id="acct-1")
    answer = refusal(cancel_request, ModifyRejectReason.UNKNOWN_ORDER, "never seen")
    assert isinstance(answer, OrderCancelRejected)
    assert (answer.order_id, answer.reason, answer.causation_id) == (
        "nope",
        ModifyRejectReason.UNKNOWN_ORDER,
        cancel_request.event_id,
    )


def test_cancel_racing_a_fill_the_loser_is_answered() -> None:
    """Whichever reaches the order first wins; the other finds it ended (a fill after a cancel is a bug in
    its producer and raises; a cancel after the last fill is answered)."""
    order = working("1")
    cancel_request = OrderCancelRequested(order_id="ord-1", account_id="acct-1")
    after_fill = fill(order, "1").answer_cancel(cancel_request, AT)
    assert isinstance(after_fill.event, OrderCancelRejected)
    assert after_fill.event.reason is ModifyRejectReason.ALREADY_FILLED
    canceled = order.answer_cancel(cancel_request, AT).order
    with pytest.raises(IllegalTransition):
        fill(canceled, "1")


def test_an_amend_changes_the_terms_or_is_refused() -> None:
    order = fill(working("1"), "0.4")
    too_small = order.answer_amend(
        OrderAmendRequested(order_id="ord-1", account_id="acct-1", quantity=D("0.4")), AT
    )
    assert isinstance(too_small.event, OrderAmendRejected)
    assert too_small.event.reason is ModifyRejectReason.QUANTITY_NOT_ABOVE_FILLED
    stop = order.answer_amend(OrderAmendRequested(order_id="ord-1", account_id="acct-1", stop_price=D(1)), AT)
    assert isinstance(stop.event, OrderAmendRejected)
    assert stop.event.reason is ModifyRejectReason.INVALID_AMEND
    amended = order.answer_amend(
        OrderAmendRequested(order_id="ord-1", account_id="acct-1", quantity=D(2), limit_price=D(99)), AT
    )
    assert isinstance(amended.event, OrderAmended)
    assert (amended.order.terms.quantity, amended.order.terms.limit_price, amended.order.remaining) == (
        D(2),
        D(99),
        D("1.6"),
    )
    assert amended.order.state is OrderState.PARTIALLY_FILLED


def test_the_same_decision_gives_the_same_event() -> None:
    order = working("1")
    assert fill(order, "0.5") == fill(order, "0.5")
    first = order.fill("alpha", D("0.5"), D(100), D(0), "USDT", Liquidity.MAKER, AT).event
    again = order.fill("alpha", D("0.5"), D(100), D(0), "USDT", Liquidity.MAKER, AT).event
    assert first.event_id == again.event_id


def test_the_ioc_venues_fill_with_its_cancel_in_one_event_is_understood() -> None:
    """Today's paper venue ends a partly filled IOC order with one order.executed of status canceled."""
    order = validated(request(quantity=D(1)))
    last = executed(
        quantity="0.4", price="100", cumulative="0.4", remaining="0.6", status=OrderStatus.CANCELED
    )
    assert order.apply(last).state is OrderState.CANCELED
    with pytest.raises(IllegalTransition):
        order.apply(
            executed(quantity="1", price="1", cumulative="1", remaining="0", status=OrderStatus.CANCELED)
        )


def test_accepted_event_carries_the_terms() -> None:
    step = validated(request(limit_price=D(100))).accept("alpha", "v-1", D("0.01"), T0, "rests at 100")
    assert isinstance(step.event, OrderAccepted)
    assert (step.event.limit_price, step.event.resting_quantity, step.event.venue) == (
        D(100),
        D("0.01"),
        "alpha",
    )


def test_todays_pipeline_replays_through_the_same_machine() -> None:
    """request -> validated -> routed -> created -> fills, as the order stage publishes them today."""
    from schemas import ExchangeRouted, OrderCreated
    from tests.unit.trading.builders import routed

    first = request(quantity=D("0.5"))
    passed = first.caused(OrderValidated, **first.order_terms())
    route = routed({"alpha": "0.5"})
    assert isinstance(route, ExchangeRouted)
    created = route.caused(OrderCreated, **route.order_terms(), venue="alpha", venue_order_id="v-1")
    part = executed(
        quantity="0.2", price="100", cumulative="0.2", remaining="0.3", status=OrderStatus.PARTIALLY_FILLED
    )
    last = executed(quantity="0.3", price="100", cumulative="0.5", remaining="0", status=OrderStatus.FILLED)
    order = OrderLifecycle.replay([first, passed, route, created, part, last])
    assert (order.state, order.filled, order.venue) == (OrderState.FILLED, D("0.5"), "alpha")


def test_an_order_round_trips_as_json_for_a_stage_changelog() -> None:
    from pydantic import TypeAdapter

    adapter = TypeAdapter(OrderLifecycle)
    order = fill(working("1"), "0.25")
    assert adapter.validate_json(adapter.dump_json(order)) == order
