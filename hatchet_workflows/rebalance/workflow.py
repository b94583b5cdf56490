"""`portfolio.rebalance`: target weights -> orders -> child `trading.place_order` runs -> one outcome.

plan_orders -> place_orders -> finish  (and record_failure when a step fails for good)

- plan_orders computes the legs with the pure core (`trading.rebalance`); their order ids follow from the
  run id, so a retried step or a re-spawned child sends the same orders, which the bus and the agents drop.
- place_orders runs one child place_order per leg, all at once (`child_key` = order id: a retry of this
  step gets the same children back from the engine), and collects each child's result or failure.
- finish, when a leg failed: with `finish` keeps what filled (status `partial`); with `compensate` runs a
  reversing child order per filled leg (status `compensated`, or `failed` when an undo fails too).
  Either way it publishes one `portfolio.rebalanced` naming every order and every failed one.
- record_failure (on_failure) publishes `portfolio.rebalanced` with status `failed` when a step itself
  failed: no rebalance ends without a record.
"""

from __future__ import annotations

from datetime import timedelta

from hatchet_sdk import Context, NonRetryableException

from hatchet_workflows.client import hatchet
from hatchet_workflows.metrics import record_outcome
from hatchet_workflows.place_order.workflow import place_order_workflow, update_positions
from hatchet_workflows.rebalance.models import (
    FailurePolicy,
    Leg,
    LegOutcome,
    Placed,
    RebalanceInput,
    RebalancePlan,
    RebalanceResult,
    child_input,
    correlation_for,
    failure_summary,
    final_event,
    outcome_of,
    plan,
    rebalanced_event,
    undo_legs,
)
from hatchet_workflows.resources import stream_bus
from schemas import RebalanceStatus
from topics.registry import Streams

rebalance_workflow = hatchet.workflow(name="portfolio.rebalance", input_validator=RebalanceInput)


async def run_legs(rebalance: RebalanceInput, legs_plan: RebalancePlan, legs: list[Leg]) -> list[LegOutcome]:
    if not legs:
        return []
    runs = [
        place_order_workflow.create_bulk_run_item(
            child_input(rebalance, legs_plan, leg), child_key=leg.order_id
        )
        for leg in legs
    ]
    results = await place_order_workflow.aio_run_many(runs, return_exceptions=True)
    return [outcome_of(leg, raw, update_positions.name) for leg, raw in zip(legs, results, strict=True)]


@rebalance_workflow.task(execution_timeout=timedelta(seconds=5), retries=3)
async def plan_orders(rebalance: RebalanceInput, ctx: Context) -> RebalancePlan:
    try:
        return plan(rebalance, ctx.workflow_run_id)
    except ValueError as exc:  # impossible targets: no retry can fix them
        raise NonRetryableException(str(exc)) from exc


@rebalance_workflow.task(parents=[plan_orders], execution_timeout=timedelta(seconds=120), retries=2)
async def place_orders(rebalance: RebalanceInput, ctx: Context) -> Placed:
    legs_plan = ctx.task_output(plan_orders)
    return Placed(outcomes=await run_legs(rebalance, legs_plan, legs_plan.legs))


@rebalance_workflow.task(parents=[place_orders], execution_timeout=timedelta(seconds=120), retries=2)
async def finish(rebalance: RebalanceInput, ctx: Context) -> RebalanceResult:
    legs_plan, outcomes = ctx.task_output(plan_orders), ctx.task_output(place_orders).outcomes
    compensations: list[LegOutcome] = []
    if any(o.failed for o in outcomes) and rebalance.on_failure is FailurePolicy.COMPENSATE:
        compensations = await run_legs(rebalance, legs_plan, undo_legs(outcomes))
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
