"""The fill audit: every paper fill checked against the recorded market it was made on (issue 13, item 7).

Pure: fills and recorded ticks in, violations out (no I/O, no clock). The rules are the paper venue's, read
from the market alone, so a bug in the engine, the IOC venue or the market view shows as a violation:

- **taker** (an order taking on arrival, a triggered stop): the book in force at the fill's market time —
  the last quote at or before it (a quote at that very time is in force: ticks go before orders) — shows
  the fill's price on the side it takes (a buy at the ask, a sell at the bid) with at least the fill's
  size, and is no older than `max_book_age`.
- **maker** (a resting order): filled at its limit price (when known), at a market time where a recorded
  trade traded through that price (at it too with `fill_at_touch`), or a quote's other side reached it;
  the fill is no larger than those trades' and quotes' sizes together, and the maker fills of one venue,
  symbol and side at that time together no larger than what traded or was quoted through the most
  aggressive of their prices (liquidity is consumed: what one order took, the next cannot).

A fill with no market time of its own (the IOC paper venue's) is dated at its order's market time plus
the venue's latency, as that venue fills it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from schemas import QuoteTick, TradeTick
from schemas.primitives import Liquidity, Side

ZERO = Decimal(0)
Tick = TradeTick | QuoteTick


@dataclass(frozen=True, slots=True)
class AuditFill:
    """One fill as the audit needs it; `at` is when it happened on the market's clock."""

    order_id: str
    fill_id: str
    venue: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    liquidity: Liquidity
    at: datetime | None
    limit_price: Decimal | None = None

    def label(self) -> str:
        when = "no market time" if self.at is None else self.at.isoformat()
        return (
            f"{self.order_id} {self.fill_id}: {self.side} {self.quantity} {self.symbol} @ {self.price} on "
            f"{self.venue} ({self.liquidity}, {when})"
        )


@dataclass(frozen=True, slots=True)
class Violation:
    fill: AuditFill
    rule: str  # no_market_time, no_book, stale_book, price_not_on_book, size_above_book, not_at_limit,
    # nothing_traded_through, size_above_traded, consumed_twice
    detail: str

    def line(self) -> str:
        return f"{self.rule}: {self.fill.label()}: {self.detail}"


@dataclass(frozen=True, slots=True)
class AuditRules:
    max_book_age: timedelta | None = timedelta(seconds=10)
    fill_at_touch: bool = False


class RecordedMarket:
    """The recorded ticks of each venue and symbol, by market time."""

    def __init__(self, ticks: Iterable[Tick]) -> None:
        quotes: dict[tuple[str, str], list[QuoteTick]] = defaultdict(list)
        self._trades: dict[tuple[str, str, datetime], list[TradeTick]] = defaultdict(list)
        for tick in ticks:
            if isinstance(tick, QuoteTick):
                quotes[tick.venue, tick.symbol].append(tick)
            else:
                self._trades[tick.venue, tick.symbol, tick.market_time].append(tick)
        # Stable: quotes of one time keep the file's order, the last of them is the one in force.
        self._quotes = {key: sorted(found, key=lambda q: q.market_time) for key, found in quotes.items()}
        self._times = {key: [q.market_time for q in found] for key, found in self._quotes.items()}

    def book_at(self, venue: str, symbol: str, at: datetime) -> QuoteTick | None:
        """The quote in force at `at`: the last one at or before it."""
        times = self._times.get((venue, symbol), [])
        index = bisect.bisect_right(times, at) - 1
        return self._quotes[venue, symbol][index] if index >= 0 else None

    def quotes_at(self, venue: str, symbol: str, at: datetime) -> list[QuoteTick]:
        times = self._times.get((venue, symbol), [])
        low, high = bisect.bisect_left(times, at), bisect.bisect_right(times, at)
        return self._quotes[venue, symbol][low:high] if high > low else []

    def trades_at(self, venue: str, symbol: str, at: datetime) -> list[TradeTick]:
        return self._trades.get((venue, symbol, at), [])


def _taken_side(quote: QuoteTick, side: Side) -> tuple[Decimal, Decimal]:
    """The price and size an order of `side` takes from `quote`: a buy the ask, a sell the bid."""
    return (quote.ask_price, quote.ask_size) if side is Side.BUY else (quote.bid_price, quote.bid_size)


def _through(price: Decimal, limit: Decimal, side: Side, touch: bool) -> bool:
    """Whether a trade (or the other side of a book) at `price` reaches a resting order at `limit`."""
    if price == limit:
        return touch
    return price < limit if side is Side.BUY else price > limit


def _audit_taker(fill: AuditFill, at: datetime, market: RecordedMarket, rules: AuditRules) -> list[Violation]:
    book = market.book_at(fill.venue, fill.symbol, at)
    if book is None:
        return [Violation(fill, "no_book", "no recorded quote at or before its market time")]
    found = []
    age = at - book.market_time
    if rules.max_book_age is not None and age > rules.max_book_age:
        found.append(
            Violation(fill, "stale_book", f"the book in force is {age} old (from {book.market_time})")
        )
    price, size = _taken_side(book, fill.side)
    shown = f"the book at {book.market_time.isoformat()} shows {price} x {size}"
    if fill.price != price:
        found.append(Violation(fill, "price_not_on_book", shown))
    elif fill.quantity > size:
        found.append(Violation(fill, "size_above_book", shown))
    return found


def _capacity(fill: AuditFill, price: Decimal, market: RecordedMarket, at: datetime, touch: bool) -> Decimal:
    """What traded or was quoted through `price` at `at`, for a resting order of the fill's side."""
    traded = sum(
        (
            t.quantity
            for t in market.trades_at(fill.venue, fill.symbol, at)
            if _through(t.price, price, fill.side, touch)
        ),
        ZERO,
    )
    quoted = ZERO
    for quote in market.quotes_at(fill.venue, fill.symbol, at):
        other, size = _taken_side(quote, fill.side)  # a resting buy fills against the ask
        if other == price or _through(other, price, fill.side, touch):
            quoted += size
    return traded + quoted


def _audit_maker(fill: AuditFill, at: datetime, market: RecordedMarket, rules: AuditRules) -> list[Violation]:
    if fill.limit_price is not None and fill.price != fill.limit_price:
        return [Violation(fill, "not_at_limit", f"its limit price is {fill.limit_price}")]
    capacity = _capacity(fill, fill.price, market, at, rules.fill_at_touch)
    if capacity == 0:
        return [
            Violation(
                fill, "nothing_traded_through", "no trade or quote at its market time reached its price"
            )
        ]
    if fill.quantity > capacity:
        return [
            Violation(fill, "size_above_traded", f"only {capacity} traded or was quoted through {fill.price}")
        ]
    return []


def _audit_consumed(
    group: Sequence[AuditFill], at: datetime, market: RecordedMarket, rules: AuditRules
) -> list[Violation]:
    """The maker fills of one venue, symbol and side at one time together: no more than the trades and
    quotes through the most aggressive of their prices (the highest buy, the lowest sell) carried."""
    boldest = max(group, key=lambda f: f.price if f.side is Side.BUY else -f.price)
    capacity = _capacity(boldest, boldest.price, market, at, rules.fill_at_touch)
    total = sum((fill.quantity for fill in group), ZERO)
    if total <= capacity:
        return []
    detail = f"{len(group)} maker fills of {total} together; {capacity} went through {boldest.price}"
    return [Violation(boldest, "consumed_twice", detail)]


def audit_fills(fills: Iterable[AuditFill], market: RecordedMarket, rules: AuditRules) -> list[Violation]:
    """Every violation of the rules above, in the fills' order (the consumed checks last)."""
    found: list[Violation] = []
    makers: dict[tuple[str, str, Side, datetime], list[AuditFill]] = defaultdict(list)
    for fill in fills:
        if fill.at is None:
            found.append(Violation(fill, "no_market_time", "neither the fill nor its order has one"))
        elif fill.liquidity is Liquidity.TAKER:
            found += _audit_taker(fill, fill.at, market, rules)
        else:
            found += _audit_maker(fill, fill.at, market, rules)
            makers[fill.venue, fill.symbol, fill.side, fill.at].append(fill)
    for (_, _, _, at), group in makers.items():
        if len(group) > 1:
            found += _audit_consumed(group, at, market, rules)
    return found
