"""Book tops per venue and symbol, and histories (of tops, of prices) so a decision can use the market as
of a given time."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from schemas.primitives import Side


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask with their sizes, as one venue showed them at `market_time`."""

    venue: str
    symbol: str
    bid_price: Decimal | None
    bid_size: Decimal
    ask_price: Decimal | None
    ask_size: Decimal
    market_time: datetime

    def opposite(self, side: Side) -> tuple[Decimal | None, Decimal]:
        """The price and size an order of `side` would take: the ask for a buy, the bid for a sell."""
        if side is Side.BUY:
            return self.ask_price, self.ask_size
        return self.bid_price, self.bid_size

    @property
    def mid(self) -> Decimal | None:
        if self.bid_price is None or self.ask_price is None:
            return None
        return (self.bid_price + self.ask_price) / 2


class Timed(Protocol):
    @property
    def market_time(self) -> datetime: ...


T = TypeVar("T", bound=Timed)


class MarketHistory(Generic[T]):
    """The last `depth` book tops or prices of one venue and symbol in market-time order, so a decision
    can see the market as it was at an order's market time; memory stays bounded."""

    def __init__(self, depth: int = 256) -> None:
        self._items: deque[T] = deque(maxlen=depth)

    def add(self, item: T) -> None:
        if self._items and item.market_time < self._items[-1].market_time:
            # Late data: keep the history sorted. Rare, so a rebuild is fine.
            items = sorted([*self._items, item], key=lambda i: i.market_time)
            self._items.clear()
            self._items.extend(items)
        else:
            self._items.append(item)

    def as_of(self, when: datetime) -> T | None:
        """The item in force at `when`: the last at or before it (None if none is that old)."""
        # Binary search over the deque itself: no list of every item's time per lookup (the history is deep).
        index = bisect.bisect_right(self._items, when, key=lambda item: item.market_time)
        return self._items[index - 1] if index else None

    @property
    def latest(self) -> T | None:
        return self._items[-1] if self._items else None

    def __len__(self) -> int:
        return len(self._items)


BookHistory = MarketHistory[BookTop]
