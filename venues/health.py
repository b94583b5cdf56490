"""Each venue's measured latency and circuit breaker, shared by the router (to score) and execution."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from trading.circuit import CircuitBreaker, CircuitState


@dataclass
class VenueHealth:
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    latency_ms: Decimal = Decimal(0)  # exponentially weighted mean of submission round trips
    base_latency_ms: Decimal = Decimal(0)  # what a paper venue simulates on top of the measured time

    def observe_latency(self, seconds: float, weight: Decimal = Decimal("0.2")) -> None:
        measured = Decimal(str(round(seconds * 1000, 3)))
        self.latency_ms = (
            measured if self.latency_ms == 0 else (1 - weight) * self.latency_ms + weight * measured
        )

    @property
    def expected_latency_ms(self) -> Decimal:
        return (self.base_latency_ms + self.latency_ms).quantize(Decimal("0.001"))

    def state(self) -> CircuitState:
        return self.breaker.state(time.monotonic())


class VenueHealthBoard:
    """All venues' health in this process."""

    def __init__(self) -> None:
        self._venues: dict[str, VenueHealth] = {}

    def __getitem__(self, venue: str) -> VenueHealth:
        health = self._venues.get(venue)
        if health is None:
            health = self._venues[venue] = VenueHealth()
        return health

    def items(self) -> list[tuple[str, VenueHealth]]:
        return sorted(self._venues.items())
