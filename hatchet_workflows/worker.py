"""The workflow worker process (`zvt workflows worker`): registers every workflow and serves runs."""

from __future__ import annotations

import asyncio
import sys

from hatchet_sdk.clients.rest.models.worker_status import WorkerStatus
from hatchet_sdk.runnables.workflow import BaseWorkflow

from hatchet_workflows.client import hatchet
from hatchet_workflows.metrics import instrument
from hatchet_workflows.noop.workflow import noop_chain_workflow, noop_workflow
from hatchet_workflows.place_order.workflow import place_order_workflow
from hatchet_workflows.rebalance.workflow import rebalance_workflow
from hatchet_workflows.risk_monitor.workflow import monitor_workflow
from hatchet_workflows.smoke.workflow import smoke_workflow
from runtime.metrics import serve_metrics
from runtime.settings import get_settings

ALL_WORKFLOWS: tuple[BaseWorkflow, ...] = (  # type: ignore[type-arg]
    smoke_workflow,
    place_order_workflow,
    rebalance_workflow,
    monitor_workflow,
    noop_workflow,
    noop_chain_workflow,
)


def worker_command(name: str, slots: int) -> list[str]:
    """The command line that starts a workflow worker process (`zvt workflows worker`)."""
    return [sys.executable, "-m", "zvt", "workflows", "worker", "--name", name, "--slots", str(slots)]


def run_worker(name: str = "zvt-workflows", slots: int = 50) -> None:
    """Blocks until SIGTERM/SIGINT; Hatchet re-assigns the runs of a worker that dies."""
    serve_metrics(get_settings().workflows_metrics_port, get_settings().metrics_host)
    instrument(ALL_WORKFLOWS, hatchet.config.namespace)
    worker = hatchet.worker(name, slots=slots, workflows=list(ALL_WORKFLOWS))
    worker.start()


async def wait_for_worker_serving(workflow: BaseWorkflow, worker_name: str | None = None) -> str:  # type: ignore[type-arg]
    """Wait (bound it with `asyncio.timeout`) until an active worker (named `worker_name`, if given) serves
    every task of `workflow`; returns the worker's name.

    Triggering while a fresh engine is still registering the workflow races that registration (a run once
    stayed unfinished for two minutes here); triggering after the worker is listed as active avoids it.
    """
    wanted = {f"{workflow.name}:{task.name}" for task in workflow.tasks}
    worker_name = hatchet.config.apply_namespace(worker_name)  # the engine lists namespaced names
    while True:
        for worker in (await hatchet.workers.aio_list()).rows or []:
            if (
                worker.status == WorkerStatus.ACTIVE
                and wanted <= set(worker.actions or ())
                and worker_name in (None, worker.name)
            ):
                return worker.name
        await asyncio.sleep(0.5)
