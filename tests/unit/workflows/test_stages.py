"""Stages recorded inside one task: each one's span, outcome, log line and histogram sample."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from hatchet_workflows.stages import CANCELLED, COMPLETED, FAILED, StageRecorder


def samples(workflow: str, stage: str, outcome: str) -> float:
    labels = {"workflow": workflow, "stage": stage, "outcome": outcome}
    return REGISTRY.get_sample_value("zvt_workflow_stage_seconds_count", labels) or 0.0


async def test_each_stage_is_spanned_logged_and_counted_in_order() -> None:
    lines: list[str] = []
    stage = StageRecorder("unit.staged", attempt=2, log=lines.append)
    async with stage("first"):
        await asyncio.sleep(0.01)
    async with stage("second"):
        pass
    assert [span.name for span in stage.spans] == ["first", "second"]
    assert [span.outcome for span in stage.spans] == [COMPLETED, COMPLETED]
    first, second = stage.spans
    assert first.ran.total_seconds() >= 0.01
    assert second.started_at >= first.ended_at
    assert lines[0].startswith("stage first completed in ")
    assert lines[0].endswith(" ms (attempt 2)")
    assert samples("unit.staged", "first", COMPLETED) == 1


async def test_a_failing_or_overrunning_stage_is_recorded_and_raises() -> None:
    lines: list[str] = []
    stage = StageRecorder("unit.failing", attempt=1, log=lines.append)
    with pytest.raises(ValueError, match="bad"):
        async with stage("broken"):
            raise ValueError("bad")
    with pytest.raises(TimeoutError):
        async with stage("slow", within=0.01):
            await asyncio.sleep(1)
    assert [(s.name, s.outcome) for s in stage.spans] == [("broken", FAILED), ("slow", FAILED)]
    assert samples("unit.failing", "slow", FAILED) == 1
    assert len(lines) == 2


async def test_a_cancelled_stage_is_recorded_as_cancelled() -> None:
    stage = StageRecorder("unit.cancelled", attempt=1, log=lambda line: None)

    async def hold() -> None:
        async with stage("held"):
            await asyncio.sleep(10)

    task = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(s.name, s.outcome) for s in stage.spans] == [("held", CANCELLED)]
