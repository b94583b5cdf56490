"""`trading.place_order`: one order through the agents, step by step, surviving worker crashes.

validate_risk -> create_order -> route_exchange -> execute_order -> update_positions

- validate_risk builds the `OrderRequested` once (its id derived from the run and the order id) and runs the
  static pre-trade rules (`trading.precheck`); it also notes where the answer streams end, so every later
  read starts before any answer to this order could exist. Hatchet stores the output: retries of the later
  steps reuse the same request and the same stream positions.
- create_order publishes that request to `zvt.orders.requested` (the bridge moves it to Kafka). The bus drops
  an id it already holds, and the agents drop a repeated request by event and order id, so a retried step
  never submits the order twice.
- route_exchange and execute_order read, from the positions noted, the agents' `exchange.routed` and then
  the fills up to the order's end (`trading.order_lifecycle.ends_order`: a fill `filled`/`canceled`, an
  `order.canceled` or `order.expired` after its fills, or an `order.rejected`); a retry re-reads the same
  entries and decides the same way.
- update_positions applies the fills to the position held before (input) with the pure core.

A static-rule refusal fails the run at once (`NonRetryableException`: no retry can change it); a refusal
by the agents (account state, liquidity) is an outcome: the run completes with status `rejected`.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from hatchet_sdk import Context, NonRetryableException

from agents.settings import get_agent_settings
from bridge.follow import collect, positions
from hatchet_workflows.client import hatchet
from hatchet_workflows.metrics import record_outcome
from hatchet_workflows.place_order.models import (
    FAILPOINT_ENV,
    Executed,
    OrderSent,
    PlaceOrderInput,
    PlaceOrderResult,
    RiskChecked,
    Routed,
    build_request,
    executed,
    is_terminal,
    of_order,
    settle,
)
from hatchet_workflows.resources import market_catalog, stream_bus, trading_config
from schemas import ExchangeRouted, OrderRejected
from topics.registry import Streams
from trading.precheck import pre_trade_check
from trading.risk import Rejection

place_order_workflow = hatchet.workflow(name="trading.place_order", input_validator=PlaceOrderInput)


@place_order_workflow.task(execution_timeout=timedelta(seconds=5), retries=3)
async def validate_risk(order: PlaceOrderInput, ctx: Context) -> RiskChecked:
    request = build_request(order, ctx.workflow_run_id)
    limits = trading_config().limits_for(request.account_id)
    engine = get_agent_settings().paper_engine  # as the order stage judges it
    decision = pre_trade_check(request, market_catalog(), limits, order.reference_price, engine=engine)
    if isinstance(decision, Rejection):
        raise NonRetryableException(f"{decision.reason.value}: {decision.detail}")
    since = await positions(stream_bus(), (Streams.ORDER_ROUTES, Streams.ORDER_EXECUTIONS))
    return RiskChecked(request=request, prechecked=decision, since=since)


@place_order_workflow.task(parents=[validate_risk], execution_timeout=timedelta(seconds=5), retries=3)
async def create_order(order: PlaceOrderInput, ctx: Context) -> OrderSent:
    request = ctx.task_output(validate_risk).request
    entry_id = await stream_bus().publish(Streams.ORDER_REQUESTS, request)
    return OrderSent(request_id=request.event_id, entry_id=entry_id.decode() if entry_id else None)


@place_order_workflow.task(parents=[create_order], execution_timeout=timedelta(seconds=10), retries=3)
async def route_exchange(order: PlaceOrderInput, ctx: Context) -> Routed:
    checked = ctx.task_output(validate_risk)
    events = await collect(
        stream_bus(),
        (Streams.ORDER_ROUTES, Streams.ORDER_EXECUTIONS),
        checked.since,
        of_order(checked.request),
        lambda found: any(isinstance(e, ExchangeRouted | OrderRejected) for e in found),
    )
    rejection = next((e for e in events if isinstance(e, OrderRejected)), None)
    routed = next((e for e in events if isinstance(e, ExchangeRouted)), None)
    return Routed(routed=None if rejection else routed, rejection=rejection)


async def _failpoint() -> None:
    name, _, path = os.environ.get(FAILPOINT_ENV, "").partition(":")
    if name == "pause-in-execute":
        await asyncio.to_thread(Path(path).touch)
        await asyncio.sleep(60)


@place_order_workflow.task(parents=[route_exchange], execution_timeout=timedelta(seconds=15), retries=3)
async def execute_order(order: PlaceOrderInput, ctx: Context) -> Executed:
    checked, routed = ctx.task_output(validate_risk), ctx.task_output(route_exchange)
    if routed.rejection is not None:
        return Executed(rejection=routed.rejection)
    events = await collect(
        stream_bus(),
        (Streams.ORDER_EXECUTIONS,),
        checked.since,
        of_order(checked.request),
        is_terminal,
    )
    await _failpoint()
    return executed(events)


@place_order_workflow.task(parents=[execute_order], execution_timeout=timedelta(seconds=5), retries=3)
async def update_positions(order: PlaceOrderInput, ctx: Context) -> PlaceOrderResult:
    request = ctx.task_output(validate_risk).request
    result = settle(order, request, ctx.task_output(execute_order))
    record_outcome(place_order_workflow, result.outcome.value)
    return result
