"""trading.place_order on the real engine, Redis, Kafka and agents: the events of a run, in causal order, its
five stages timed on the worker's /metrics, and a worker SIGKILLed inside the execute_order stage whose run
still ends with exactly one fill."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runtime.processes import free_port
from schemas import (
    Event,
    ExchangeRouted,
    OrderCreated,
    OrderExecuted,
    OrderRequested,
    OrderValidated,
    PositionUpdated,
)
from tests.integration.metrics import scrape_until, total
from tests.integration.pipeline.support import wait_until, worker_log_tail

from .conftest import Flow, assert_placed_once, of_order, run_command, serving, workflow_worker

if TYPE_CHECKING:
    from hatchet_workflows.trace import Step

pytestmark = pytest.mark.integration


def position_after(flow: Flow, fill: OrderExecuted) -> list[PositionUpdated]:
    return [e for e in flow.output.of_type(PositionUpdated) if e.causation_id == fill.event_id]


def kill_tree(pid: int) -> None:
    """SIGKILL the worker and its action-listener child: nothing of it gets to clean up."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for victim in (pid, *map(int, children)):
        os.kill(victim, signal.SIGKILL)


async def test_a_run_places_one_order_and_its_events_follow_each_other(flow: Flow) -> None:
    from hatchet_workflows.place_order.models import STAGES, OrderOutcome, PlaceOrderInput
    from hatchet_workflows.place_order.trigger import place_order
    from hatchet_workflows.place_order.workflow import place_order_workflow

    name, port = f"wf-{uuid.uuid4().hex[:6]}", free_port()
    with workflow_worker(flow, name, ZVT_WORKFLOWS_METRICS_PORT=str(port)):
        await serving(place_order_workflow, name)
        order_id = f"po-{uuid.uuid4().hex[:8]}"
        result = await place_order(
            PlaceOrderInput(
                account_id="acct-wf",
                symbol="BTC/USDT",
                side="buy",
                quantity=Decimal("0.2"),
                order_id=order_id,
            ),
            budget=timedelta(seconds=60),
        )
        reused = await place_order(
            PlaceOrderInput(account_id="acct-wf", symbol="BTC/USDT", side="buy", quantity=Decimal("0.2"),
                            order_id=order_id),
            budget=timedelta(seconds=60),
        )  # fmt: skip
        metrics = await scrape_until(
            port,
            lambda m: total(m, "zvt_workflow_stage_seconds_count", stage=STAGES[-1]) == 2,
            10,
            "both runs' last stage timed",
        )

    for stage in STAGES:  # each stage of both runs, under the workflow's name without the namespace
        assert total(metrics, "zvt_workflow_stage_seconds_count", workflow="trading.place_order", stage=stage,
                     outcome="completed") == 2, stage  # fmt: skip

    assert reused.outcome is OrderOutcome.REJECTED
    assert reused.reason is not None
    assert reused.reason.startswith("duplicate_order")
    assert result.outcome is OrderOutcome.FILLED, result
    assert (result.filled_quantity, result.average_price) == (Decimal("0.2"), Decimal("60001"))
    assert result.position.quantity == Decimal("0.2")
    assert result.position.average_cost == Decimal("60001")

    def chain() -> list[Event]:
        found: list[Event] = []
        for kind in (OrderRequested, OrderValidated, ExchangeRouted, OrderCreated, OrderExecuted):
            found += [e for e in of_order(flow, kind, order_id) if e.correlation_id == result.correlation_id]
        fills = [e for e in found if isinstance(e, OrderExecuted)]
        return found + (position_after(flow, fills[0]) if fills else [])

    await wait_until(lambda: len(chain()) == 6, 30, lambda: f"so far: {[e.event_type for e in chain()]}")
    request, validated, routed, created, fill, position = chain()
    assert isinstance(fill, OrderExecuted)
    assert isinstance(position, PositionUpdated)
    assert {e.correlation_id for e in chain()} == {result.correlation_id} == {request.event_id}
    assert request.causation_id is None
    assert validated.causation_id == request.event_id
    assert routed.causation_id == validated.event_id
    assert created.causation_id == routed.event_id
    assert fill.causation_id == routed.event_id
    assert position.causation_id == fill.event_id
    assert [e.timestamp for e in (request, validated, routed, fill, position)] == sorted(
        e.timestamp for e in (request, validated, routed, fill, position)
    )
    assert result.fill_ids == [fill.fill_id]
    assert len(of_order(flow, OrderExecuted, order_id)) == 1  # the reused order id filled nothing
    assert position.quantity == result.position.quantity


async def test_worker_killed_inside_execute_order_still_fills_once(flow: Flow, tmp_path: Path) -> None:
    from hatchet_workflows.place_order.models import FAILPOINT_ENV, STAGES, OrderOutcome, PlaceOrderInput
    from hatchet_workflows.place_order.trigger import place_order
    from hatchet_workflows.place_order.workflow import place_order_workflow

    paused = tmp_path / "paused-in-execute"
    order_id = f"crash-{uuid.uuid4().hex[:8]}"
    order = PlaceOrderInput(
        account_id="acct-crash", symbol="ETH/USDT", side="buy", quantity=Decimal("3"), order_id=order_id
    )
    first, second = f"wf-a-{uuid.uuid4().hex[:6]}", f"wf-b-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, first, **{FAILPOINT_ENV: f"pause-in-execute:{paused}"}) as pid:
        await serving(place_order_workflow, first)
        running = asyncio.create_task(place_order(order, budget=timedelta(seconds=120)))
        await wait_until(paused.exists, 60, lambda: worker_log_tail(flow.logs / f"{first}.log"))
        kill_tree(pid)
    with workflow_worker(flow, second):
        result = await running

    assert result.outcome is OrderOutcome.FILLED, result
    assert result.filled_quantity == Decimal("3")
    await assert_placed_once(flow, order_id, result.fill_ids)

    # The killed attempt's record: the stages it finished, as it logged them to the engine.
    (request,) = of_order(flow, OrderRequested, order_id)
    step = await retried_step(str(request.metadata["workflow_run_id"]))
    assert step.attempts == 2
    assert [line.split()[3] for line in step.earlier] == ["validate_risk", "create_order", "route_exchange"]
    assert [stage.name for stage in step.stages] == list(STAGES)  # the attempt that completed


async def retried_step(run_id: str) -> Step:
    """The run's one step once the engine holds its earlier attempt's three stage lines (logs are written
    through the engine's buffers)."""
    from hatchet_workflows.client import hatchet
    from hatchet_workflows.trace import fetch_earlier_attempts, run_view

    async with asyncio.timeout(30):
        while True:
            view = await fetch_earlier_attempts(run_view(await hatchet.runs.aio_get(run_id)))
            if len(view.steps[0].earlier) >= 3:
                return view.steps[0]
            await asyncio.sleep(0.5)


async def test_the_command_line_places_an_order_and_prints_the_outcome(flow: Flow) -> None:
    from hatchet_workflows.place_order.workflow import place_order_workflow

    order_id = f"cli-{uuid.uuid4().hex[:8]}"
    out = await run_command(flow, place_order_workflow, "workflows", "run", "place-order",
                            "--account", "acct-cli", "--symbol", "LTC/USDT", "--side", "sell",
                            "--quantity", "2", "--order-id", order_id)  # fmt: skip
    assert f"order {order_id}: filled" in out
    assert "-2 at 70" in out  # the position: short 2 at the bid
