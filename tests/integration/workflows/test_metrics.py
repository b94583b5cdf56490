"""The workflow worker's /metrics: every task attempt timed by outcome, every run counted by status."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from hatchet_workflows.metrics import COMPLETED, FAILED, RETRIED
from runtime.processes import background_process, free_port
from schemas import CODEC
from tests.integration.metrics import Samples, scrape_until, total
from zvt.smoke import smoke_event

from .conftest import serving

pytestmark = pytest.mark.integration

NOOP_RUNS = 3


async def test_metrics_time_each_task_and_count_each_run(tmp_path: Path) -> None:
    from hatchet_workflows.noop.workflow import noop_workflow
    from hatchet_workflows.smoke.workflow import SmokeInput, smoke_workflow
    from hatchet_workflows.worker import worker_command

    def attempts(samples: Samples, workflow: str, task: str, outcome: str) -> float:
        return total(
            samples, "zvt_workflow_task_seconds_count", workflow=workflow, task=task, outcome=outcome
        )

    def runs(samples: Samples, workflow: str, status: str) -> float:
        return total(samples, "zvt_workflow_runs_total", workflow=workflow, status=status)

    name, port = f"wf-metrics-{uuid.uuid4().hex[:6]}", free_port()
    env = os.environ | {"ZVT_WORKFLOWS_METRICS_PORT": str(port)}
    with background_process(worker_command(name, slots=4), env=env, log_path=tmp_path / "worker.log"):
        await serving(noop_workflow, name)
        await serving(smoke_workflow, name)
        for _ in range(NOOP_RUNS):
            await asyncio.wait_for(noop_workflow.aio_run(), 60)
        good = SmokeInput(encoded_event=CODEC.encode(smoke_event()).decode())
        await asyncio.wait_for(smoke_workflow.aio_run(good), 60)
        with pytest.raises(Exception, match="not JSON"):  # decode_event fails, is retried once, fails again
            await asyncio.wait_for(smoke_workflow.aio_run(SmokeInput(encoded_event="garbage")), 120)
        metrics = await scrape_until(
            port, lambda m: runs(m, "zvt.smoke", FAILED) == 1, 10, "the failed smoke run counted"
        )

    assert runs(metrics, "zvt.noop", COMPLETED) == NOOP_RUNS
    assert attempts(metrics, "zvt.noop", "noop", COMPLETED) == NOOP_RUNS
    assert total(metrics, "zvt_workflow_task_seconds_sum", workflow="zvt.noop") > 0
    assert runs(metrics, "zvt.smoke", COMPLETED) == 1  # counted once, by its last task
    assert attempts(metrics, "zvt.smoke", "decode_event", COMPLETED) == 1
    assert attempts(metrics, "zvt.smoke", "acknowledge", COMPLETED) == 1
    assert attempts(metrics, "zvt.smoke", "decode_event", RETRIED) == 1
    assert attempts(metrics, "zvt.smoke", "decode_event", FAILED) == 1
    assert total(metrics, "zvt_workflow_runs_total") == NOOP_RUNS + 2  # nothing else ran on this worker
