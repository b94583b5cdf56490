"""`zvt trace <workflow run id>` on a real place_order run: the run's task with the engine's timings, its five
stages under it, and the order's events from the event store (filled by a real sink), in one tree."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from eventstore.db import connect
from runtime.processes import background_process, free_port
from runtime.settings import Settings
from tests.integration.eventstore.conftest import store_settings, template_database  # noqa: F401 (fixtures)

from .conftest import Flow, serving, workflow_worker

pytestmark = pytest.mark.integration

STAGES = ["validate_risk", "create_order", "route_exchange", "execute_order", "update_positions"]
EVENTS = ["order.requested", "order.validated", "exchange.routed", "order.created", "order.executed"]


def zvt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "zvt", *args]
    return subprocess.run(command, env=env | {"COLUMNS": "250"}, capture_output=True, text=True, timeout=120)


async def stored(
    settings: Settings, correlation_id: uuid.UUID, event_type: str, within: float, count: int = 1
) -> None:
    """Until the event store holds `count` events of `event_type` in the correlation."""
    connection = await connect(settings.postgres_url())
    query = "SELECT count(*) FROM event_store WHERE correlation_id = $1 AND event_type = $2"
    try:
        async with asyncio.timeout(within):
            while await connection.fetchval(query, correlation_id, event_type) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.3)
    finally:
        await connection.close()


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" │├└─"))


async def test_trace_of_a_run_shows_its_steps_and_its_orders_events(
    flow: Flow,
    store_settings: Settings,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    from hatchet_workflows.client import hatchet
    from hatchet_workflows.place_order.models import PlacedOrder, PlaceOrderInput
    from hatchet_workflows.place_order.workflow import place_order_task, place_order_workflow

    env = flow.env | {"ZVT_POSTGRES_DSN": store_settings.postgres_dsn}
    sink = [sys.executable, "-m", "zvt", "sink"]
    name = f"wf-trace-{uuid.uuid4().hex[:6]}"
    sink_env = env | {"ZVT_SINK_METRICS_PORT": str(free_port())}
    with background_process(sink, env=sink_env, log_path=tmp_path / "sink.log"), workflow_worker(flow, name):
        await serving(place_order_workflow, name)
        order = PlaceOrderInput(
            account_id="acct-trace", symbol="BTC/USDT", side="buy", quantity=Decimal("0.03")
        )
        ref = await place_order_workflow.aio_run(order, wait_for_result=False)
        async with asyncio.timeout(timedelta(seconds=60).total_seconds()):
            result = PlacedOrder.model_validate((await ref.aio_result())[place_order_task.name]).result
        await stored(store_settings, result.correlation_id, "position.updated", within=60)

    traced = await asyncio.to_thread(zvt, env, "trace", ref.workflow_run_id)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    lines = traced.stdout.splitlines()
    workflow = hatchet.config.apply_namespace(place_order_workflow.name)
    assert lines[0].startswith(f"workflow run {ref.workflow_run_id} {workflow}: COMPLETED in "), lines[0]

    (step_line,) = [line for line in lines if "COMPLETED [engine " in line]
    assert " place_order COMPLETED [engine " in step_line
    stage_lines = [line for line in lines if " completed [ran " in line]
    assert [next(s for s in STAGES if f" {s} completed" in line) for line in stage_lines] == STAGES
    assert len({indent(line) for line in stage_lines}) == 1  # siblings
    assert indent(stage_lines[0]) > indent(step_line)  # under the task they ran in
    assert lines.index(step_line) < lines.index(stage_lines[0])

    order_id = f"wf-{ref.workflow_run_id}"  # the run's default order id
    event_lines = [line for line in lines if order_id in line]
    kinds = [line.split("+00:00 ")[1].split()[0] for line in event_lines]
    assert kinds == EVENTS, traced.stdout  # causal order: each nested under its cause
    assert indent(event_lines[1]) > indent(event_lines[0])
    position = next(line for line in lines if " position.updated " in line)
    assert "acct-trace BTC/USDT quantity 0.03" in position
    assert f"correlation {result.correlation_id}" in traced.stdout
    assert all(indent(line) > 0 for line in lines[1:])  # one tree: everything under the run

    unknown = await asyncio.to_thread(zvt, env, "trace", str(uuid.uuid4()))  # neither a run nor an event
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr


async def test_trace_of_a_rebalance_run_holds_every_legs_events(
    flow: Flow,
    store_settings: Settings,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    from hatchet_workflows.rebalance.models import RebalanceInput, RebalanceResult
    from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow

    env = flow.env | {"ZVT_POSTGRES_DSN": store_settings.postgres_dsn}
    sink = [sys.executable, "-m", "zvt", "sink"]
    name = f"wf-trace-rb-{uuid.uuid4().hex[:6]}"
    sink_env = env | {"ZVT_SINK_METRICS_PORT": str(free_port())}
    with background_process(sink, env=sink_env, log_path=tmp_path / "sink.log"), workflow_worker(flow, name):
        await serving(rebalance_workflow, name)
        rebalance = RebalanceInput(
            portfolio_id="pf-trace", account_id="acct-trace-rb", cash=Decimal("10000"),
            target_weights={"ETH/USDT": Decimal("0.3"), "LTC/USDT": Decimal("0.2")},
            prices={"ETH/USDT": Decimal("3000"), "LTC/USDT": Decimal("70.1")},
        )  # fmt: skip
        ref = await rebalance_workflow.aio_run(rebalance, wait_for_result=False)
        async with asyncio.timeout(60):
            result = RebalanceResult.model_validate((await ref.aio_result())[finish.name])
        await stored(store_settings, result.event.correlation_id, "position.updated", within=60, count=2)

    traced = await asyncio.to_thread(zvt, env, "trace", ref.workflow_run_id)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    lines = [line.split(" [engine ")[0].split() for line in traced.stdout.splitlines() if " [engine " in line]
    steps = [(tokens[-2], tokens[-1]) for tokens in lines]  # name and status, before the timings
    done = [(name, "COMPLETED") for name in ("plan_orders", "place_orders", "finish")]
    assert steps[:3] == done, traced.stdout
    assert [name.split("-")[0] for name, _ in steps[3:]] == ["record_failure"]  # on-failure: not run
    assert "not started record_failure" in traced.stdout
    requested = [line for line in traced.stdout.splitlines() if " order.requested " in line]
    assert sorted(line.split("order.requested ")[1].split()[0] for line in requested) == sorted(
        o.leg.order_id for o in result.outcomes
    )
