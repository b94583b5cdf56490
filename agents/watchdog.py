"""Restart a worker whose agents stopped receiving messages while their partitions still hold some.

After a kill -9 and restart, faust-streaming 0.15.3 was seen (about one run in three of the crash test) to
keep a fresh worker's stream partitions paused after recovery: every agent waits for its next event, the
backlog grows, nothing is logged. Processing is idempotent, so the cure is the one a supervisor would apply:
start the process again (in place, same pid), and its new consumer resumes from the committed offsets.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

from agents.app import app

log = logging.getLogger(__name__)
CHECK_INTERVAL_SECONDS = 5.0


@dataclass
class ProgressWatch:
    """Decides, from samples of (time, events processed so far, backlog?), when a worker has stalled."""

    stall_after: float
    _last_total: int = -1
    _since: float | None = field(default=None, repr=False)

    def stalled(self, now: float, events_total: int, backlog: bool) -> bool:
        if events_total != self._last_total or not backlog or self._since is None:
            self._last_total = events_total
            self._since = now
            return False
        return now - self._since >= self.stall_after


async def has_backlog() -> bool:
    """Whether a partition this worker consumes has messages past the last one it delivered to an agent."""
    consumer = app.consumer
    partitions = [tp for tp in consumer.assignment() if not tp.topic.endswith("-changelog")]
    if not partitions:
        return False
    highwaters = await consumer.highwaters(*partitions)
    delivered = consumer._read_offset  # type: ignore[attr-defined]  # no public accessor in Faust
    return any(
        (offset := delivered.get(tp)) is not None and highwater > offset + 1
        for tp, highwater in highwaters.items()
    )


def restart_in_place(argv: list[str]) -> None:
    log.critical("agents received nothing for too long while messages wait: restarting the worker")
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, "-m", "zvt", *argv[1:]])
