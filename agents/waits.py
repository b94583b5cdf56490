"""Waits bounded by wall clock: an item parked for an answer or a watermark that never comes (lost, or
from a worker that is gone) must not stall its lane for ever."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from agents.settings import get_agent_settings


def _settle_max_seconds() -> float:
    return get_agent_settings().market_settle_max_seconds


class BoundedWaits:
    """Since when each waiting item has waited; it may wait on for `bound()` seconds (by default
    `market_settle_max_seconds`), then it goes on with what has come."""

    def __init__(self, bound: Callable[[], float] = _settle_max_seconds) -> None:
        self.bound = bound
        self._since: dict[Hashable, float] = {}

    def waits(self, key: Hashable, waiting: bool) -> bool:
        """Whether `key` waits on: it is `waiting`, and has been for less than the bound."""
        if not waiting:
            self._since.pop(key, None)
            return False
        first = self._since.setdefault(key, time.monotonic())
        if time.monotonic() - first < self.bound():
            return True
        del self._since[key]
        return False

    def clear(self) -> None:
        """After a rebalance: what was parked is fetched again, its clock starts again."""
        self._since.clear()
