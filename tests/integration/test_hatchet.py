"""A two-task workflow run to completion by the real Hatchet engine and a worker started here."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from runtime.processes import background_process
from schemas import CODEC, AlertTriggered
from zvt.smoke import smoke_event

pytestmark = pytest.mark.integration


WORKER_NAME = f"test-worker-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def serving_worker(workflow_worker: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """The worker, once the engine lists it as active with the smoke workflow's tasks."""
    from hatchet_workflows.smoke.workflow import smoke_workflow
    from hatchet_workflows.worker import wait_for_worker_serving

    async with asyncio.timeout(60):
        await wait_for_worker_serving(smoke_workflow, worker_name=WORKER_NAME)
    return workflow_worker


@pytest.fixture(scope="module")
def workflow_worker() -> Iterator[subprocess.Popen[bytes]]:
    from hatchet_workflows.worker import worker_command

    with background_process(worker_command(WORKER_NAME, slots=4)) as worker:
        yield worker


async def test_two_task_workflow_runs_to_completion(serving_worker: subprocess.Popen[bytes]) -> None:
    from hatchet_workflows.client import hatchet
    from hatchet_workflows.smoke.workflow import SmokeInput, smoke_workflow

    event = smoke_event()
    run = await smoke_workflow.aio_run(
        SmokeInput(encoded_event=CODEC.encode(event).decode()), wait_for_result=False
    )
    try:
        result = await asyncio.wait_for(run.aio_result(), timeout=120)
    except TimeoutError:
        status = await hatchet.runs.aio_get_status(run.workflow_run_id)
        pytest.fail(f"run {run.workflow_run_id} unfinished after 120 s; the engine reports {status}")

    assert serving_worker.poll() is None, "worker died during the run"
    assert result["decode_event"] == {
        "event_id": str(event.event_id),
        "event_type": "alert.triggered",
        "correlation_id": str(event.correlation_id),
    }
    reply = CODEC.decode(result["acknowledge"]["encoded_alert"])
    assert isinstance(reply, AlertTriggered)
    assert reply.causation_id == event.event_id
    assert reply.correlation_id == event.correlation_id
    assert str(event.event_id) in reply.message


async def test_failing_task_surfaces_the_error(serving_worker: subprocess.Popen[bytes]) -> None:
    """Garbage input fails decode_event (after its retry) and the run reports the decode error."""
    from hatchet_workflows.smoke.workflow import SmokeInput, smoke_workflow

    with pytest.raises(Exception, match="not JSON"):
        await asyncio.wait_for(smoke_workflow.aio_run(SmokeInput(encoded_event="garbage")), timeout=120)
