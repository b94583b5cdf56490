"""A venue's displayed book (its top, or its L2 levels) and how much of each level paper orders have taken.

Liquidity is consumed: what one paper order takes from a level, the next cannot, until the venue shows
that level changed (another price or size). The recorded book never contains the paper orders, so a level
the venue re-sends unchanged is still the level those orders took from; a changed one is new information
and starts untaken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from schemas.primitives import Side

ZERO: Final = Decimal(0)


@dataclass(slots=True)
class Level:
    price: Decimal
    size: Decimal
    taken: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.size - self.taken


@dataclass(frozen=True, slots=True)
class Take:
    """One piece of a fill: this much at this level's price."""

    price: Decimal
    quantity: Decimal


def _within(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Whether an order of `side` limited at `limit` (None: any price) may trade at `price`."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


class PaperBook:
    """One venue and symbol's book as last shown, best level first on each side."""

    def __init__(self) -> None:
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.market_time: datetime | None = None

    def update(
        self,
        bids: Iterable[tuple[Decimal, Decimal]],
        asks: Iterable[tuple[Decimal, Decimal]],
        market_time: datetime,
    ) -> None:
        """The venue's new book (each side best first); a level unchanged in price and size keeps what paper
        orders took from it."""
        self.bids = _carry(self.bids, bids)
        self.asks = _carry(self.asks, asks)
        self.market_time = market_time

    def is_fresh(self, at: datetime, max_age: timedelta | None) -> bool:
        """A book older than `max_age` at `at` is no book (`stale_book`)."""
        if self.market_time is None:
            return False
        return max_age is None or at - self.market_time <= max_age

    def opposite(self, side: Side) -> list[Level]:
        """The levels an order of `side` takes from: the asks for a buy, the bids for a sell."""
        return self.asks if side is Side.BUY else self.bids

    def crossing(self, side: Side, limit: Decimal | None) -> Iterator[Level]:
        """The opposite levels with something left that an order of `side` at `limit` would trade with."""
        for level in self.opposite(side):
            if not _within(side, level.price, limit):
                return
            if level.available > 0:
                yield level

    def would_take(self, side: Side, limit: Decimal | None) -> bool:
        return next(self.crossing(side, limit), None) is not None

    def available_within(self, side: Side, limit: Decimal | None) -> Decimal:
        return sum((level.available for level in self.crossing(side, limit)), ZERO)

    def take(self, side: Side, quantity: Decimal, limit: Decimal | None) -> list[Take]:
        """Walk the opposite side best first, within the limit, taking up to `quantity`."""
        takes: list[Take] = []
        left = quantity
        for level in self.crossing(side, limit):
            if left <= 0:
                break
            size = min(left, level.available)
            level.taken += size
            left -= size
            takes.append(Take(level.price, size))
        return takes


def _carry(old: list[Level], new: Iterable[tuple[Decimal, Decimal]]) -> list[Level]:
    taken = {(level.price, level.size): level.taken for level in old if level.taken}
    return [Level(price, size, taken.get((price, size), ZERO)) for price, size in new if size > 0]
