"""The rebalance workflow's pure parts: legs with run-fixed order ids, undo legs, and the final status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from hatchet_workflows.place_order.models import OrderOutcome, PlaceOrderResult, build_request
from hatchet_workflows.rebalance.models import (
    FailurePolicy,
    Leg,
    LegOutcome,
    RebalanceInput,
    answered,
    child_input,
    correlation_for,
    failure_summary,
    final_event,
    leg_outcome,
    leg_request,
    pairs,
    plan,
    undo_legs,
)
from schemas import OrderRejected, OrderStatus, RebalanceStatus, RejectReason
from schemas.primitives import Side
from tests.unit.trading.builders import executed
from trading.ids import derived_id
from trading.positions import Position
from trading.rebalance import PlannedOrder

D = Decimal
INPUT = RebalanceInput(
    portfolio_id="pf-1",
    account_id="acct-1",
    target_weights={"BTC/USDT": D("0.5"), "ETH/USDT": D("0.5")},
    prices={"BTC/USDT": D("50000"), "ETH/USDT": D("2500")},
    cash=D("10000"),
)


def test_legs_and_correlation_follow_from_the_run() -> None:
    first, again = plan(INPUT, "run-1"), plan(INPUT, "run-1")
    assert first == again
    assert [leg.order_id for leg in first.legs] == ["rb-run-1-0", "rb-run-1-1"]
    assert [leg.order.quantity for leg in first.legs] == [D("0.1"), D("2")]
    assert first.correlation_id == correlation_for("run-1") != correlation_for("run-2")
    child = child_input(INPUT, first, first.legs[1])
    assert (child.order_id, child.symbol, child.quantity, child.reference_price) == (
        "rb-run-1-1", "ETH/USDT", D("2"), D("2500"),
    )  # fmt: skip
    assert child.correlation_id == first.correlation_id
    assert child.market_time is None  # live: the venue fills at the book of the moment


def test_a_keyed_rebalance_at_a_market_time_places_the_same_orders_from_any_run() -> None:
    """A replayed session's rebalance: the same data gives the same order ids, filled as of the same time."""
    when = datetime(2024, 8, 8, 23, 55, 13, tzinfo=UTC)
    keyed = INPUT.model_copy(update={"rebalance_id": "session-1", "market_time": when})
    first, other = plan(keyed, "run-1"), plan(keyed, "run-2")
    assert [leg.order_id for leg in first.legs] == [leg.order_id for leg in other.legs]
    assert [leg.order_id for leg in first.legs] == ["rb-session-1-0", "rb-session-1-1"]
    assert first.correlation_id != other.correlation_id  # still two runs on record
    child = child_input(keyed, first, first.legs[0])
    assert child.market_time == when
    assert build_request(child, "child-run").market_time == when


def result(leg: Leg, outcome: OrderOutcome, filled: str, price: str | None = None) -> LegOutcome:
    return LegOutcome(
        leg=leg,
        result=PlaceOrderResult(
            order_id=leg.order_id,
            correlation_id=uuid4(),
            outcome=outcome,
            filled_quantity=D(filled),
            average_price=D(price) if price else None,
            fees=D(0),
            fill_ids=[],
            position=Position(),
            mark_price=None,
            unrealized_pnl=D(0),
        ),
    )


LEGS = plan(INPUT, "run-1").legs


def test_undo_reverses_what_filled_at_its_price() -> None:
    outcomes = [
        result(LEGS[0], OrderOutcome.CANCELED, "0.04", "50010"),
        result(LEGS[1], OrderOutcome.REJECTED, "0"),
    ]
    assert undo_legs(outcomes) == [
        Leg(
            order_id="rb-run-1-0-undo",
            order=PlannedOrder(symbol="BTC/USDT", side=Side.SELL, quantity=D("0.04"), price=D("50010")),
        )
    ]


@pytest.mark.parametrize(
    ("policy", "second", "undo_fails", "status"),
    [
        (FailurePolicy.FINISH, "filled", False, RebalanceStatus.COMPLETED),
        (FailurePolicy.FINISH, "error", False, RebalanceStatus.PARTIAL),
        (FailurePolicy.COMPENSATE, "rejected", False, RebalanceStatus.COMPENSATED),
        (FailurePolicy.COMPENSATE, "error", True, RebalanceStatus.FAILED),
    ],
)
def test_final_status(policy: FailurePolicy, second: str, undo_fails: bool, status: RebalanceStatus) -> None:
    rebalance = INPUT.model_copy(update={"on_failure": policy})
    legs_plan = plan(rebalance, "run-1")
    outcomes = [result(LEGS[0], OrderOutcome.FILLED, "0.1", "50000")]
    if second == "error":
        outcomes.append(LegOutcome(leg=LEGS[1], error="NonRetryableException: unknown_symbol"))
    else:
        outcomes.append(result(LEGS[1], OrderOutcome(second), "2" if second == "filled" else "0", "2500"))
    undo = (
        undo_legs(outcomes)
        if status is not RebalanceStatus.COMPLETED and policy is FailurePolicy.COMPENSATE
        else []
    )
    compensations = [
        LegOutcome(leg=leg, error="boom") if undo_fails else result(leg, OrderOutcome.FILLED, "0.1", "50000")
        for leg in undo
    ]
    event = final_event(rebalance, legs_plan, outcomes, compensations)
    assert event.status is status
    assert event.event_id == derived_id(legs_plan.correlation_id, "rebalanced")
    assert event.correlation_id == legs_plan.correlation_id
    assert list(event.order_ids) == [o.leg.order_id for o in (*outcomes, *compensations)]
    failed = [o.leg.order_id for o in (*outcomes, *compensations) if o.failed]
    assert list(event.failed_order_ids) == failed


def test_every_leg_failing_is_a_failed_rebalance() -> None:
    outcomes = [LegOutcome(leg=leg, error="x") for leg in LEGS]
    assert final_event(INPUT, plan(INPUT, "run-1"), outcomes, []).status is RebalanceStatus.FAILED


def test_the_failure_line_is_found_in_the_engines_message() -> None:
    message = "Workflow run 1 failed.\n\n--- Exception 1 ---\nNonRetryableException: unknown_symbol: x\nTrace"
    assert failure_summary(RuntimeError(message)) == "NonRetryableException: unknown_symbol: x"
    assert failure_summary(RuntimeError("plain")) == "plain"


def test_command_line_pairs() -> None:
    assert pairs(["BTC/USDT=0.5", " ETH/USDT = 0.25"], "--target") == {"BTC/USDT": "0.5", "ETH/USDT": "0.25"}
    with pytest.raises(ValueError, match="--price 'BTC/USDT'"):
        pairs(["BTC/USDT"], "--price")


def test_each_leg_is_the_request_a_place_order_run_of_it_would_send_again_on_a_retry() -> None:
    legs_plan = plan(INPUT, "run-1")
    items = [leg_request(INPUT, legs_plan, leg, "run-1") for leg in legs_plan.legs]
    again = [leg_request(INPUT, legs_plan, leg, "run-1") for leg in legs_plan.legs]
    assert [i.request.event_id for i in items] == [i.request.event_id for i in again]
    assert len({i.request.event_id for i in items}) == 2
    assert [i.key for i in items] == [(leg.order_id, str(legs_plan.correlation_id)) for leg in legs_plan.legs]
    assert {i.request.metadata["workflow_run_id"] for i in items} == {"run-1"}  # `zvt trace` finds the run


def test_the_batch_waits_for_every_legs_terminal_answer_and_decides_each_from_its_own() -> None:
    legs_plan = plan(INPUT, "run-1")
    btc, eth = (leg_request(INPUT, legs_plan, leg, "run-1") for leg in legs_plan.legs)
    partial = executed(
        quantity="0.04",
        price="50010",
        cumulative="0.04",
        remaining="0.06",
        status=OrderStatus.PARTIALLY_FILLED,
        order_id=btc.request.order_id,
        fill_id="f1",
    )
    last = executed(quantity="0.06", price="50020", cumulative="0.1", remaining="0",
                    status=OrderStatus.FILLED, order_id=btc.request.order_id, fill_id="f2")  # fmt: skip
    refused = OrderRejected.for_order(eth.request, RejectReason.NO_LIQUIDITY, "empty book")
    assert not answered([btc, eth], [partial, refused])
    assert not answered([btc, eth], [partial, last])
    assert answered([btc, eth], [partial, refused, last])

    filled, rejected = (leg_outcome(item, [partial, refused, last]) for item in (btc, eth))
    assert filled.result is not None
    assert rejected.result is not None
    assert (filled.result.outcome, filled.result.filled_quantity, filled.result.fill_ids) == (
        OrderOutcome.FILLED, D("0.1"), ["f1", "f2"],
    )  # fmt: skip
    assert not filled.failed
    assert rejected.failed
    assert rejected.why == "no_liquidity: empty book"
