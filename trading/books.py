"""Book tops per venue and symbol, with a short history so a fill can use the book as of a given time."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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


class BookHistory:
    """The last `depth` tops of one venue and symbol in market-time order; memory stays bounded."""

    def __init__(self, depth: int = 256) -> None:
        self._tops: deque[BookTop] = deque(maxlen=depth)

    def add(self, top: BookTop) -> None:
        if self._tops and top.market_time < self._tops[-1].market_time:
            # Late data: keep the history sorted. Rare, so a rebuild is fine.
            tops = sorted([*self._tops, top], key=lambda t: t.market_time)
            self._tops.clear()
            self._tops.extend(tops)
        else:
            self._tops.append(top)

    def as_of(self, when: datetime) -> BookTop | None:
        """The book in force at `when`: the last top at or before it (None if none is that old)."""
        # Binary search over the deque itself: no list of every top's time per lookup (the history is deep).
        index = bisect.bisect_right(self._tops, when, key=lambda top: top.market_time)
        return self._tops[index - 1] if index else None

    @property
    def latest(self) -> BookTop | None:
        return self._tops[-1] if self._tops else None

    def __len__(self) -> int:
        return len(self._tops)
