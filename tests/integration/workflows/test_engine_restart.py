"""The Hatchet engine itself SIGKILLed in the middle of a place_order run, and started again: the run still
completes, with exactly one order and one fill, and a caller that was waiting for its result gets it.

This restarts the engine of this checkout's stack (`deploy/local/hatchet.sh start`), the one every workflow
test uses: a module of its own, so no other test's run is in flight when it happens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from runtime.settings import REPO_ROOT, run_dir
from tests.integration.pipeline.support import wait_until, worker_log_tail

from .conftest import Flow, assert_placed_once, serving, workflow_worker

pytestmark = pytest.mark.integration

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def kill_engine() -> int:
    """SIGKILL hatchet-lite (no teardown: its leases and partitions stay behind, as in a crash)."""
    pid = int((run_dir() / "hatchet" / "hatchet.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def start_engine() -> None:
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "deploy" / "local" / "hatchet.sh"), "start"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def finished_run(run_id: str, within: float) -> Any:
    """The run's details once the engine holds it finished (REST: the restarted engine's API)."""
    from hatchet_workflows.client import hatchet

    async with asyncio.timeout(within):
        while True:
            try:
                details = await hatchet.runs.aio_get(run_id)
            except Exception:
                details = None
            if details is not None and details.run.status.value in TERMINAL:
                return details
            await asyncio.sleep(1)


async def test_engine_killed_mid_run_the_run_completes_with_one_order_and_one_fill(
    flow: Flow, tmp_path: Path
) -> None:
    from hatchet_workflows.place_order.models import (
        FAILPOINT_ENV,
        OrderOutcome,
        PlacedOrder,
        PlaceOrderInput,
    )
    from hatchet_workflows.place_order.workflow import place_order_task, place_order_workflow

    paused = tmp_path / "paused-in-execute"
    order_id = f"engine-crash-{uuid.uuid4().hex[:8]}"
    order = PlaceOrderInput(
        account_id="acct-engine-crash",
        symbol="XRP/USDT",
        side="buy",
        quantity=Decimal(100),
        order_id=order_id,
    )
    name = f"wf-e-{uuid.uuid4().hex[:6]}"
    log = flow.logs / f"{name}.log"
    with workflow_worker(flow, name, **{FAILPOINT_ENV: f"pause-in-execute:{paused}"}):
        await serving(place_order_workflow, name)
        ref = await place_order_workflow.aio_run(order, wait_for_result=False)
        listening = asyncio.create_task(ref.aio_result())  # a caller waiting through the restart
        await wait_until(paused.exists, 60, lambda: worker_log_tail(log))
        engine = kill_engine()
        await wait_until(lambda: not Path(f"/proc/{engine}").exists(), 10, lambda: "the engine still runs")
        paused.unlink()  # the stage ends, and its task with it, while the engine is down
        await asyncio.to_thread(start_engine)
        details = await finished_run(ref.workflow_run_id, within=240)
        async with asyncio.timeout(60):
            heard = await listening
        print(worker_log_tail(log))  # shown on failure: how the worker saw the engine go and come back

    (task,) = details.tasks
    assert details.run.status.value == "COMPLETED", (details.run.status, task.error_message)
    placed = PlacedOrder.model_validate(task.output)
    assert task.display_name.startswith(place_order_task.name)
    assert placed.result.outcome is OrderOutcome.FILLED, placed.result
    assert placed.result.filled_quantity == Decimal("100")
    assert [stage.name for stage in placed.stages][-1] == "update_positions"
    assert PlacedOrder.model_validate(heard[place_order_task.name]) == placed  # the waiting caller's result
    await assert_placed_once(flow, order_id, placed.result.fill_ids)
