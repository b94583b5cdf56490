"""The workflow worker's task and run metrics, recorded around every task of every workflow it serves.

Hatchet's SDK has no task middleware (its own OpenTelemetry instrumentor patches the runner), so
`instrument` wraps each task's function once, when the worker starts. The wrapper sees the attempt's retry
count and the task's retry budget: that is what tells an attempt Hatchet will retry from one that fails
the run. A run is counted `completed` when its last task completes (workflows whose DAG ends in one task,
as all of ours do) and `failed` when a task fails for good. A cancelled attempt (a timeout, a cancelled
run) is timed but decides no run status: the engine retries or cancels it, and this worker is not told.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Iterable
from typing import Any

from hatchet_sdk import NonRetryableException
from hatchet_sdk.runnables.task import Task
from hatchet_sdk.runnables.types import StepType
from hatchet_sdk.runnables.workflow import BaseWorkflow

from hatchet_workflows.client import hatchet
from runtime.metrics import TASK_SECONDS, WORKFLOW_OUTCOMES, WORKFLOW_RUNS

log = logging.getLogger(__name__)

COMPLETED, RETRIED, FAILED, CANCELLED = "completed", "retried", "failed", "cancelled"


def record_outcome(workflow: BaseWorkflow[Any], outcome: str) -> None:
    """What a finished run achieved (filled, partial, ...), labelled like the other workflow metrics."""
    WORKFLOW_OUTCOMES.labels(workflow.name.removeprefix(hatchet.config.namespace), outcome).inc()


def attempt_outcome(error: BaseException | None, retry_count: int, retries: int) -> str:
    """Pure: how one attempt of a task ended, as the engine will take it."""
    if error is None:
        return COMPLETED
    if isinstance(error, asyncio.CancelledError):
        return CANCELLED
    if isinstance(error, NonRetryableException) or retry_count >= retries:
        return FAILED
    return RETRIED


def last_task(workflow: BaseWorkflow[Any]) -> Task[Any, Any] | None:
    """The task every other regular task leads to, if the DAG ends in exactly one."""
    regular = [task for task in workflow.tasks if task.type is StepType.DEFAULT]
    parents = {id(parent) for task in regular for parent in task.parents}
    ends = [task for task in regular if id(task) not in parents]
    return ends[0] if len(ends) == 1 else None


def instrument(workflows: Iterable[BaseWorkflow[Any]], namespace: str = "") -> None:
    """Time every task and count every run of `workflows`; labels carry the names without `namespace`."""
    for workflow in workflows:
        name = workflow.name.removeprefix(namespace)
        last = last_task(workflow)
        if last is None:
            log.warning("%s has no single last task: its runs are not counted, its tasks are timed", name)
        for task in workflow.tasks:
            _time(task, name, ends_run=task is last)


def _time(task: Task[Any, Any], workflow: str, *, ends_run: bool) -> None:
    fn = task._fn
    if getattr(fn, "__zvt_timed__", False):
        return
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{workflow}:{task.name} is synchronous; only async tasks are timed")
    counts_runs = task.type is StepType.DEFAULT

    @functools.wraps(fn)
    async def timed(workflow_input: Any, ctx: Any, **dependencies: Any) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await fn(workflow_input, ctx, **dependencies)
        except BaseException as exc:
            error = exc
            raise
        finally:
            outcome = attempt_outcome(error, ctx.retry_count, task.retries)
            TASK_SECONDS.labels(workflow, task.name, outcome).observe(time.perf_counter() - started)
            if counts_runs and (outcome == FAILED or (outcome == COMPLETED and ends_run)):
                WORKFLOW_RUNS.labels(workflow, outcome).inc()

    timed.__zvt_timed__ = True  # type: ignore[attr-defined]
    task._fn = timed  # type: ignore[assignment]  # the SDK types it by the task's input and output
