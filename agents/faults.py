"""Deliberate crashes at a batch's seams, for the kill -9 tests (`ZVT_CRASH_AT`); never set in production.

`<stage>:<point>:<n>` kills the worker with SIGKILL the n-th time that stage's batch reaches the point:
`after_outputs` (outputs acknowledged, state not written) or `after_state` (state acknowledged, offsets not
committed). A batch that changed no state does not count.
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum

from agents.settings import get_agent_settings


class CrashPoint(StrEnum):
    AFTER_OUTPUTS = "after_outputs"
    AFTER_STATE = "after_state"


_reached: dict[tuple[str, CrashPoint], int] = {}


def crash_if_asked(stage: str, point: CrashPoint) -> None:
    wanted = get_agent_settings().crash_at
    if not wanted:
        return
    name, at, count = wanted.split(":")
    if (name, at) != (stage, point.value):
        return
    seen = _reached[stage, point] = _reached.get((stage, point), 0) + 1
    if seen == int(count):
        os.kill(os.getpid(), signal.SIGKILL)
