"""The recorded sub-steps of a task that does several things in one go (place_order's five stages).

Each dependent task of a Hatchet workflow costs one engine hop (about 50 to 100 ms on hatchet-lite here),
so place_order runs its five stages inside one task. What the five tasks gave for free is kept by hand:
each stage's start and end go into the task's output (`zvt trace <run id>` draws them under the task),
a log line to the engine at each stage's end (the dashboard's task log; an attempt killed mid-run leaves
the lines of the stages it finished), and the `zvt_workflow_stage_seconds` histogram.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from runtime.metrics import STAGE_SECONDS

COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"


class StageSpan(BaseModel):
    """One stage of one attempt: its name, when it started and ended (UTC, the worker's clock)."""

    name: str
    started_at: datetime
    ended_at: datetime
    outcome: str = COMPLETED

    @property
    def ran(self) -> timedelta:
        return self.ended_at - self.started_at


def stage_outcome(error: BaseException | None) -> str:
    if error is None:
        return COMPLETED
    return CANCELLED if isinstance(error, asyncio.CancelledError) else FAILED


def stage_line(span: StageSpan, attempt: int) -> str:
    """The log line a stage's end sends to the engine (the dashboard shows it under the task)."""
    took = span.ran.total_seconds() * 1000
    return f"stage {span.name} {span.outcome} in {took:.1f} ms (attempt {attempt})"


class StageRecorder:
    """Times the stages of one task attempt: `async with stage("name", within=s): ...`.

    `log` sends a line to the engine (the task context's `log`, which queues it: no wait on the network).
    A stage past `within` seconds raises `TimeoutError`, which fails the attempt as a task timeout would.
    """

    def __init__(self, workflow: str, attempt: int, log: Callable[[str], Any]) -> None:
        self.workflow, self.attempt, self._log = workflow, attempt, log
        self.spans: list[StageSpan] = []

    @asynccontextmanager
    async def __call__(self, name: str, within: float | None = None) -> AsyncIterator[None]:
        started_at, started = datetime.now(UTC), time.perf_counter()
        error: BaseException | None = None
        try:
            async with asyncio.timeout(within):
                yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            span = StageSpan(
                name=name,
                started_at=started_at,
                ended_at=started_at + timedelta(seconds=elapsed),
                outcome=stage_outcome(error),
            )
            self.spans.append(span)
            STAGE_SECONDS.labels(self.workflow, name, span.outcome).observe(elapsed)
            self._log(stage_line(span, self.attempt))
