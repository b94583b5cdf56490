"""The workflow worker's task wrapper: each attempt's outcome as the engine takes it; a run counted once."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from hatchet_sdk import NonRetryableException
from hatchet_sdk.runnables.types import StepType
from prometheus_client import REGISTRY

from hatchet_workflows.metrics import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RETRIED,
    attempt_outcome,
    instrument,
    last_task,
)


@pytest.mark.parametrize(
    ("error", "retry_count", "expected"),
    [
        (None, 0, COMPLETED),
        (None, 3, COMPLETED),
        (RuntimeError("boom"), 0, RETRIED),
        (RuntimeError("boom"), 2, FAILED),  # the last of 1 + 2 retries
        (NonRetryableException("no"), 0, FAILED),
        (asyncio.CancelledError(), 2, CANCELLED),
    ],
)
def test_attempt_outcome(error: BaseException | None, retry_count: int, expected: str) -> None:
    assert attempt_outcome(error, retry_count, retries=2) == expected


def _task(name: str, fn: Any, parents: list[Any] | None = None, kind: StepType = StepType.DEFAULT) -> Any:
    return SimpleNamespace(name=name, _fn=fn, parents=parents or [], retries=1, type=kind)


async def _ok(workflow_input: Any, ctx: Any) -> str:
    return "ok"


async def _boom(workflow_input: Any, ctx: Any) -> str:
    raise RuntimeError("boom")


def _workflow(*tasks: Any) -> Any:
    return SimpleNamespace(name=f"test_ns_wf-{uuid.uuid4().hex[:6]}", tasks=list(tasks))


def test_last_task_is_the_single_end_of_the_dag() -> None:
    first = _task("first", _ok)
    left, right = _task("left", _ok, [first]), _task("right", _ok, [first])
    join = _task("join", _ok, [left, right])
    on_failure = _task("on_failure", _ok, kind=StepType.ON_FAILURE)
    assert last_task(_workflow(first, left, right, join, on_failure)) is join
    assert last_task(_workflow(first, left, right)) is None  # two ends: a run's end is not one task


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_instrumented_tasks_time_each_attempt_and_count_a_run_once() -> None:
    first, last = _task("first", _ok), _task("last", _boom)
    last.parents = [first]
    workflow = _workflow(first, last)
    instrument([workflow, workflow], namespace="test_ns_")  # twice: still one wrapper per task
    name = workflow.name.removeprefix("test_ns_")

    assert await first._fn(None, SimpleNamespace(retry_count=0)) == "ok"
    for retry_count in (0, 1):
        with pytest.raises(RuntimeError):
            await last._fn(None, SimpleNamespace(retry_count=retry_count))

    def attempts(task: str, outcome: str) -> float:
        return _value("zvt_workflow_task_seconds_count", workflow=name, task=task, outcome=outcome)

    assert attempts("first", COMPLETED) == 1
    assert attempts("last", RETRIED) == 1
    assert attempts("last", FAILED) == 1
    assert _value("zvt_workflow_runs_total", workflow=name, status=FAILED) == 1
    assert _value("zvt_workflow_runs_total", workflow=name, status=COMPLETED) == 0  # `first` ends no run


def test_a_synchronous_task_is_refused() -> None:
    with pytest.raises(TypeError, match="synchronous"):
        instrument([_workflow(_task("sync", lambda workflow_input, ctx: None))])
