"""The workflow worker process (`zvt workflows worker`): registers every workflow and serves runs."""

from __future__ import annotations

from hatchet_sdk.runnables.workflow import BaseWorkflow

from hatchet_workflows.client import hatchet
from hatchet_workflows.smoke.workflow import smoke_workflow

ALL_WORKFLOWS: tuple[BaseWorkflow, ...] = (smoke_workflow,)  # type: ignore[type-arg]


def run_worker(name: str = "zvt-workflows", slots: int = 50) -> None:
    """Blocks until SIGTERM/SIGINT; Hatchet re-assigns the runs of a worker that dies."""
    worker = hatchet.worker(name, slots=slots, workflows=list(ALL_WORKFLOWS))
    worker.start()
