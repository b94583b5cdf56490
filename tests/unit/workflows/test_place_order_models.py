"""The place_order workflow's pure parts: the request it sends, and its outcome from the agents' answer."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from hatchet_workflows.place_order.models import (
    Executed,
    OrderOutcome,
    PlaceOrderInput,
    build_request,
    is_terminal,
    of_order,
    settle,
)
from hatchet_workflows.place_order.models import (
    executed as executed_of,
)
from schemas import CancelReason, OrderRejected, OrderStatus, RejectReason
from schemas.primitives import Side
from tests.unit.trading.builders import canceled, executed, expired
from trading.positions import Position

D = Decimal
ORDER = PlaceOrderInput(account_id="acct-1", symbol="BTC/USDT", side=Side.BUY, quantity=D("0.5"))


def test_the_request_is_the_same_on_every_attempt_of_a_run() -> None:
    first, again = build_request(ORDER, "run-1"), build_request(ORDER, "run-1")
    assert first.event_id == again.event_id
    assert first.order_id == "wf-run-1"
    assert first.correlation_id == first.event_id  # a root of its own
    assert build_request(ORDER, "run-2").event_id != first.event_id
    named = ORDER.model_copy(update={"order_id": "ord-9"})
    assert build_request(named, "run-1").order_id == build_request(named, "run-2").order_id == "ord-9"
    # Another run with the same order id is another request: the risk agent refuses it as a duplicate.
    assert build_request(named, "run-1").event_id != build_request(named, "run-2").event_id


def test_a_parent_correlation_is_kept() -> None:
    parent, cause = uuid4(), uuid4()
    child = build_request(ORDER.model_copy(update={"correlation_id": parent, "causation_id": cause}), "r")
    assert (child.correlation_id, child.causation_id) == (parent, cause)


def test_only_this_orders_entries_match() -> None:
    request = build_request(ORDER, "run-1")
    match = of_order(request)
    assert match({"order_id": "wf-run-1", "correlation_id": str(request.correlation_id)})
    assert not match({"order_id": "wf-run-1", "correlation_id": str(uuid4())})
    assert not match({"order_id": "other", "correlation_id": str(request.correlation_id)})


def test_fills_become_the_outcome_and_the_position() -> None:
    request = build_request(ORDER, "run-1")
    held = Position(quantity=D("1"), cost=D("50000"))
    fills = [
        executed(quantity="0.2", price="60000", cumulative="0.2", remaining="0.3",
                 status=OrderStatus.PARTIALLY_FILLED, fee="1.2", fill_id="f1"),
        executed(quantity="0.3", price="60010", cumulative="0.5", remaining="0",
                 status=OrderStatus.FILLED, fee="1.8", fill_id="f2"),
    ]  # fmt: skip
    assert not is_terminal(fills[:1])
    assert is_terminal(fills)
    result = settle(ORDER.model_copy(update={"position": held}), request, Executed(fills=fills))
    assert result.outcome is OrderOutcome.FILLED
    assert result.filled_quantity == D("0.5")
    assert result.average_price == D("60006")
    assert result.fees == D("3.0")
    assert result.fill_ids == ["f1", "f2"]
    assert result.position.quantity == D("1.5")
    assert result.position.average_cost == D("80003") / D("1.5")
    assert result.unrealized_pnl == D("1.5") * (D("60010") - D("80003") / D("1.5"))


def test_a_canceled_remainder_and_a_rejection() -> None:
    request = build_request(ORDER, "run-1")
    partial = executed(quantity="0.2", price="60000", cumulative="0.2", remaining="0.3",
                       status=OrderStatus.CANCELED)  # fmt: skip
    canceled = settle(ORDER, request, Executed(fills=[partial]))
    assert (canceled.outcome, canceled.filled_quantity) == (OrderOutcome.CANCELED, D("0.2"))
    rejection = OrderRejected.for_order(request, RejectReason.NO_LIQUIDITY, "empty book")
    assert is_terminal([rejection])
    rejected = settle(ORDER, request, Executed(rejection=rejection))
    assert rejected.outcome is OrderOutcome.REJECTED
    assert rejected.reason == "no_liquidity: empty book"
    assert (rejected.filled_quantity, rejected.average_price, rejected.position) == (D(0), None, Position())


def test_an_engine_order_ends_with_its_cancel_or_expiry_after_its_fills() -> None:
    """A partly filled IOC order (or a resting one canceled) ends with order.canceled after its fills;
    the cancel comes on another topic, so it may be read first: the end waits for the fills it counts."""
    request = build_request(ORDER, "run-1")
    fill = executed(quantity="0.2", price="60000", cumulative="0.2", remaining="0.3",
                    status=OrderStatus.PARTIALLY_FILLED, fill_id="f1")  # fmt: skip
    cancel = canceled(canceled_quantity="0.3", cumulative="0.2", reason=CancelReason.UNFILLED_REMAINDER)
    assert not is_terminal([fill])
    assert not is_terminal([cancel])  # read before the fill it counts
    assert is_terminal([cancel, fill])
    result = settle(ORDER, request, executed_of([fill, cancel]))
    assert (result.outcome, result.filled_quantity, result.average_price) == (
        OrderOutcome.CANCELED, D("0.2"), D("60000"),
    )  # fmt: skip
    expiry = expired(expired_quantity="0.5")
    assert is_terminal([expiry])
    lapsed = settle(ORDER, request, executed_of([expiry]))
    assert (lapsed.outcome, lapsed.filled_quantity, lapsed.fill_ids) == (OrderOutcome.EXPIRED, D(0), [])
