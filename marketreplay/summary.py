"""What a replay sent: events per venue and symbol, the market time span, the rate achieved (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from marketreplay.readers import Tick
from schemas import TradeTick


@dataclass(frozen=True)
class Line:
    venue: str
    symbol: str
    trades: int
    quotes: int
    first: datetime
    last: datetime


@dataclass
class ReplayStats:
    """Counts per (venue, symbol) and the market time span of each, filled as events are sent."""

    trades: Counter[tuple[str, str]] = field(default_factory=Counter)
    quotes: Counter[tuple[str, str]] = field(default_factory=Counter)
    first: dict[tuple[str, str], datetime] = field(default_factory=dict)
    last: dict[tuple[str, str], datetime] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def add(self, tick: Tick) -> None:
        key = (tick.venue, tick.symbol)
        (self.trades if isinstance(tick, TradeTick) else self.quotes)[key] += 1
        self.first[key] = min(self.first.get(key, tick.market_time), tick.market_time)
        self.last[key] = max(self.last.get(key, tick.market_time), tick.market_time)

    @property
    def events(self) -> int:
        return self.trades.total() + self.quotes.total()

    def lines(self) -> list[Line]:
        return [
            Line(venue, symbol, self.trades[key], self.quotes[key], self.first[key], self.last[key])
            for key in sorted(self.first)
            for venue, symbol in [key]
        ]

    @property
    def span(self) -> timedelta:
        if not self.first:
            return timedelta(0)
        return max(self.last.values()) - min(self.first.values())

    @property
    def rate(self) -> float:
        """Events per wall-clock second."""
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0
