"""`portfolio.rebalance`: target weights -> orders, sent to the agents as one batch -> one outcome.

plan_orders -> place_orders -> finish  (and record_failure when a step fails for good)

- plan_orders computes the legs with the pure core (`trading.rebalance`); their order ids follow from the
  run id (or `rebalance_id`), so a retried step sends the same orders, which the bus and the agents drop.
  It also notes where the answer stream ends, before any leg is sent.
- place_orders runs the static pre-trade rules on every leg (a leg they refuse is failed and never sent),
  publishes all the others' requests with one call, and reads the answers of all of them in one pass from
  the noted position, until each leg is filled, canceled or rejected: the legs travel through the agents
  as one batch, not one workflow run each (50 child runs of five dependent tasks took 12 s here; see
  docs/workflows.md). Each leg is decided as place_order decides an order (`settle`), and its events,
  under the rebalance's correlation id, are the per-leg record.
- finish, when a leg failed: with `finish` keeps what filled (status `partial`); with `compensate` sends a
  reversing order per filled leg the same way (status `compensated`, or `failed` when an undo fails too).
  Either way it publishes one `portfolio.rebalanced` naming every order and every failed one.
- record_failure (on_failure) publishes `portfolio.rebalanced` with status `failed` when a step itself
  failed: no rebalance ends without a record.
"""

from __future__ import annotations

from datetime import timedelta

from hatchet_sdk import Context, NonRetryableException

from bridge.follow import collect, positions
from hatchet_workflows.client import hatchet
from hatchet_workflows.metrics import record_outcome
from hatchet_workflows.rebalance.models import (
    FailurePolicy,
    Leg,
    LegOutcome,
    LegRequest,
    Placed,
    RebalanceInput,
    RebalancePlan,
    RebalanceResult,
    answered,
    correlation_for,
    failure_summary,
    final_event,
    leg_outcome,
    leg_request,
    plan,
    rebalanced_event,
    undo_legs,
)
from hatchet_workflows.resources import market_catalog, stream_bus, trading_config
from schemas import RebalanceStatus
from topics.registry import Streams
from trading.precheck import pre_trade_check
from trading.risk import Rejection

rebalance_workflow = hatchet.workflow(name="portfolio.rebalance", input_validator=RebalanceInput)
ANSWERS = (Streams.ORDER_EXECUTIONS,)  # fills and rejections: every leg's terminal answer


async def run_legs(
    rebalance: RebalanceInput, legs_plan: RebalancePlan, legs: list[Leg], run_id: str, since: dict[str, str]
) -> list[LegOutcome]:
    """Every leg through the agents at once: one publish, one read of all the answers after `since`."""
    catalog, limits = market_catalog(), trading_config().limits_for(rebalance.account_id)
    outcomes: dict[str, LegOutcome] = {}
    sent: list[LegRequest] = []
    for leg in legs:
        item = leg_request(rebalance, legs_plan, leg, run_id)
        decision = pre_trade_check(item.request, catalog, limits, item.order.reference_price)
        if isinstance(decision, Rejection):
            outcomes[leg.order_id] = LegOutcome(leg=leg, error=f"{decision.reason.value}: {decision.detail}")
        else:
            sent.append(item)
    if sent:
        bus = stream_bus()
        await bus.publish_many(Streams.ORDER_REQUESTS, [item.request for item in sent])
        keys = {item.key for item in sent}
        events = await collect(
            bus,
            ANSWERS,
            since,
            lambda body: (body.get("order_id"), body.get("correlation_id")) in keys,
            lambda found: answered(sent, found),
        )
        outcomes |= {item.leg.order_id: leg_outcome(item, events) for item in sent}
    return [outcomes[leg.order_id] for leg in legs]


@rebalance_workflow.task(execution_timeout=timedelta(seconds=5), retries=3)
async def plan_orders(rebalance: RebalanceInput, ctx: Context) -> RebalancePlan:
    try:
        legs_plan = plan(rebalance, ctx.workflow_run_id)
    except ValueError as exc:  # impossible targets: no retry can fix them
        raise NonRetryableException(str(exc)) from exc
    return legs_plan.model_copy(update={"since": await positions(stream_bus(), ANSWERS)})


@rebalance_workflow.task(parents=[plan_orders], execution_timeout=timedelta(seconds=60), retries=2)
async def place_orders(rebalance: RebalanceInput, ctx: Context) -> Placed:
    legs_plan = ctx.task_output(plan_orders)
    outcomes = await run_legs(rebalance, legs_plan, legs_plan.legs, ctx.workflow_run_id, legs_plan.since)
    # Before finish sends any undo leg, so a retried finish reads the undos' answers from here again.
    return Placed(outcomes=outcomes, since=await positions(stream_bus(), ANSWERS))


@rebalance_workflow.task(parents=[place_orders], execution_timeout=timedelta(seconds=60), retries=2)
async def finish(rebalance: RebalanceInput, ctx: Context) -> RebalanceResult:
    legs_plan, placed = ctx.task_output(plan_orders), ctx.task_output(place_orders)
    outcomes, compensations = placed.outcomes, []
    if any(o.failed for o in outcomes) and rebalance.on_failure is FailurePolicy.COMPENSATE:
        undo = undo_legs(outcomes)
        compensations = await run_legs(rebalance, legs_plan, undo, ctx.workflow_run_id, placed.since)
    event = final_event(rebalance, legs_plan, outcomes, compensations)
    await stream_bus().publish(Streams.REBALANCES, event)
    record_outcome(rebalance_workflow, event.status.value)
    return RebalanceResult(event=event, outcomes=outcomes, compensations=compensations)


@rebalance_workflow.on_failure_task(execution_timeout=timedelta(seconds=10), retries=3)
async def record_failure(rebalance: RebalanceInput, ctx: Context) -> RebalanceResult:
    errors = "; ".join(
        f"{task}: {failure_summary(RuntimeError(error))}" for task, error in ctx.task_run_errors.items()
    )
    event = rebalanced_event(
        rebalance,
        correlation_for(ctx.workflow_run_id),
        RebalanceStatus.FAILED,
        order_ids=[],
        failed_order_ids=[],
        detail=errors,
    )
    await stream_bus().publish(Streams.REBALANCES, event)
    record_outcome(rebalance_workflow, event.status.value)
    return RebalanceResult(event=event, outcomes=[])
