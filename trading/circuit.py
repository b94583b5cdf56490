"""A circuit breaker per venue: stop sending orders to a venue that keeps failing, probe it later.

The clock is passed in (seconds, monotonic), so the state machine is tested without sleeping and the
router can read the state as an input to its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"  # healthy: requests flow
    OPEN = "open"  # failing: requests refused until the reset timeout passes
    HALF_OPEN = "half_open"  # probing: one request at a time may go; its outcome closes or reopens


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    _probe_started: float | None = field(default=None, repr=False)

    def state(self, now: float) -> CircuitState:
        if self.opened_at is None:
            return CircuitState.CLOSED
        if now - self.opened_at >= self.reset_timeout:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self, now: float) -> bool:
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        # A probe that never reported (its worker died) frees the slot after another reset timeout.
        probe_lost = self._probe_started is not None and now - self._probe_started >= self.reset_timeout
        if state is CircuitState.HALF_OPEN and (self._probe_started is None or probe_lost):
            self._probe_started = now
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._probe_started = None

    def record_failure(self, now: float) -> None:
        self.failures += 1
        self._probe_started = None
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = now
