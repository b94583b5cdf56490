"""`trading.place_order`: one order through the agents in one task of five recorded stages, surviving
worker and engine crashes.

validate_risk -> create_order -> route_exchange -> execute_order -> update_positions

Each was a task of its own; every dependent task cost one engine hop (about 50 to 100 ms on hatchet-lite
here, several times the order's own round trip through the agents), so they are stages of one task now,
each recorded (`hatchet_workflows.stages`: its span in the output, a log line to the engine, a histogram).
A retried attempt (a killed worker, a timeout) runs every stage again and decides the same way:

- validate_risk builds the `OrderRequested` (its id derived from the run and the order id: every attempt
  builds the same event) and runs the static pre-trade rules (`trading.precheck`); it notes, once per
  request (`bridge.follow.noted_positions`, a Redis key of the request's own), where the answer streams
  end: every attempt reads from before any answer to this order could exist.
- create_order publishes that request to `zvt.orders.requested` (the bridge moves it to Kafka). The bus
  drops an id it already holds, and the agents drop a repeated request by event and order id, so a retried
  attempt never submits the order twice.
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
from bridge.follow import collect, noted_positions
from hatchet_workflows.client import hatchet
from hatchet_workflows.metrics import record_outcome
from hatchet_workflows.place_order.models import (
    FAILPOINT_ENV,
    POSITIONS_KEPT,
    STAGES,
    Executed,
    OrderSent,
    PlacedOrder,
    PlaceOrderInput,
    RiskChecked,
    Routed,
    build_request,
    executed,
    is_terminal,
    of_order,
    positions_key,
    settle,
)
from hatchet_workflows.resources import market_catalog, stream_bus, trading_config
from hatchet_workflows.stages import StageRecorder
from schemas import ExchangeRouted, OrderRejected
from topics.registry import Streams
from trading.precheck import pre_trade_check
from trading.risk import Rejection

place_order_workflow = hatchet.workflow(name="trading.place_order", input_validator=PlaceOrderInput)
ANSWERS = (Streams.ORDER_ROUTES, Streams.ORDER_EXECUTIONS)
VALIDATE, CREATE, ROUTE, EXECUTE, UPDATE = STAGES


async def validate_risk(order: PlaceOrderInput, run_id: str) -> RiskChecked:
    request = build_request(order, run_id)
    limits = trading_config().limits_for(request.account_id)
    engine = get_agent_settings().paper_engine  # as the order stage judges it
    decision = pre_trade_check(request, market_catalog(), limits, order.reference_price, engine=engine)
    if isinstance(decision, Rejection):
        raise NonRetryableException(f"{decision.reason.value}: {decision.detail}")
    bus = stream_bus()
    since = await noted_positions(bus, ANSWERS, positions_key(bus.prefix, request), POSITIONS_KEPT)
    return RiskChecked(request=request, prechecked=decision, since=since)


async def create_order(checked: RiskChecked) -> OrderSent:
    entry_id = await stream_bus().publish(Streams.ORDER_REQUESTS, checked.request)
    return OrderSent(request_id=checked.request.event_id, entry_id=entry_id.decode() if entry_id else None)


async def route_exchange(checked: RiskChecked) -> Routed:
    events = await collect(
        stream_bus(),
        ANSWERS,
        checked.since,
        of_order(checked.request),
        lambda found: any(isinstance(e, ExchangeRouted | OrderRejected) for e in found),
    )
    rejection = next((e for e in events if isinstance(e, OrderRejected)), None)
    routed = next((e for e in events if isinstance(e, ExchangeRouted)), None)
    return Routed(routed=None if rejection else routed, rejection=rejection)


async def _failpoint() -> None:
    """Test-only (`FAILPOINT_ENV`): touch the file, then hold until it is removed (the execute_order stage's
    budget bounds the wait)."""
    name, _, path = os.environ.get(FAILPOINT_ENV, "").partition(":")
    if name == "pause-in-execute":
        paused = Path(path)
        await asyncio.to_thread(paused.touch)
        while await asyncio.to_thread(paused.exists):  # noqa: ASYNC110 (another process removes it)
            await asyncio.sleep(0.1)


async def execute_order(checked: RiskChecked, routed: Routed) -> Executed:
    if routed.rejection is not None:
        return Executed(rejection=routed.rejection)
    events = await collect(
        stream_bus(), (Streams.ORDER_EXECUTIONS,), checked.since, of_order(checked.request), is_terminal
    )
    await _failpoint()
    return executed(events)


@place_order_workflow.task(name="place_order", execution_timeout=timedelta(seconds=30), retries=3)
async def place_order_task(order: PlaceOrderInput, ctx: Context) -> PlacedOrder:
    workflow = place_order_workflow.name.removeprefix(hatchet.config.namespace)
    stage = StageRecorder(workflow, ctx.attempt_number, ctx.log)
    async with stage(VALIDATE):
        checked = await validate_risk(order, ctx.workflow_run_id)
    async with stage(CREATE):
        sent = await create_order(checked)
    async with stage(ROUTE, within=10):
        routed = await route_exchange(checked)
    async with stage(EXECUTE, within=15):
        done = await execute_order(checked, routed)
    async with stage(UPDATE):
        result = settle(order, checked.request, done)
    record_outcome(place_order_workflow, result.outcome.value)
    return PlacedOrder(
        result=result, checked=checked, sent=sent, routed=routed, executed=done, stages=stage.spans
    )
