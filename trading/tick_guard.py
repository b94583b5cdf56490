"""Which ticks may move a price: a market time in order (and, live, near the wall clock) and a price in a
band around the venue's recent prices and the other venues' prices; and the reference price risk values
orders at, which one venue's outlier cannot move.

One bad tick (a market time in the year 2999, BTC/USDT at 1.5) used to become the latest price, and risk
valued a 1,000 BTC order at 1,500 USDT. A tick that fails here is quarantined (dead-lettered with its
reason) and moves nothing downstream. Pure: the caller passes the wall clock in (live only), so a replay is
judged on market time alone and gives the same outcome at any speed.

The medians are over the last `window` prices of a venue and symbol that passed the time checks, the
quarantined ones included: one outlier cannot move a median, and a real move past the band is accepted
once it has lasted half a window (a band that only learned from accepted prices would lock a venue out
for good after a real jump). The first ticks of a venue (fewer than `min_samples`) have no median of their
own; the other venues' still judge them.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from schemas import QuoteTick, TradeTick
from trading.config import MarketClock, TickGuardConfig

# Prices outside 1e-15 .. 1e15 are nobody's market, and their products overflow what risk multiplies.
MIN_EXPONENT, MAX_EXPONENT = -15, 15


class Quarantine(StrEnum):
    """Why a tick moved no price (the metric's label and the first word of its dead letter's error)."""

    NON_POSITIVE_PRICE = "non_positive_price"
    PRICE_OUT_OF_RANGE = "price_out_of_range"
    CROSSED_BOOK = "crossed_book"
    FUTURE_TIME = "future_time"  # live: further ahead of the wall clock than `max_future_seconds`
    STALE_TIME = "stale_time"  # live: older than `max_age_seconds`
    TIME_BACKWARDS = "time_backwards"  # before the venue and symbol's last accepted tick
    PRICE_BAND_VENUE = "price_band_venue"
    PRICE_BAND_CROSS_VENUE = "price_band_cross_venue"


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: Quarantine
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def _middle(ordered: Sequence[Decimal]) -> Decimal:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def median(values: Sequence[Decimal]) -> Decimal:
    """The middle of `values` (not empty); of an even count, the mean of the middle two."""
    return _middle(sorted(values))


class VenueWindow:
    """One venue and symbol: the last accepted market time and its recent prices, kept sorted as well so
    the median costs no sort per tick."""

    __slots__ = ("_recent", "_sorted", "last_time", "venue")

    def __init__(self, venue: str, size: int) -> None:
        self.venue = venue
        self.last_time: datetime | None = None
        self._recent: deque[Decimal] = deque(maxlen=size)
        self._sorted: list[Decimal] = []

    def push(self, price: Decimal) -> None:
        recent = self._recent
        if len(recent) == recent.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, recent[0])]
        recent.append(price)
        bisect.insort(self._sorted, price)

    def median(self) -> Decimal:
        return _middle(self._sorted)

    def __len__(self) -> int:
        return len(self._recent)


def _out_of_band(price: Decimal, low: Decimal, high: Decimal, reference: Decimal, band: Decimal) -> bool:
    """Whether `low`..`high` (a trade's price twice, a quote's bid and ask) leaves `band` around
    `reference`; `price` (trade or mid) is the one compared when it does not."""
    allowed = reference * band
    return low < reference - allowed or high > reference + allowed or abs(price - reference) > allowed


class TickGuard:
    """The guard's state for the ticks of one partition (every venue of a symbol: ticks are keyed by
    symbol), fed in offset order."""

    def __init__(self, config: TickGuardConfig) -> None:
        self.config = config
        self.live = config.clock is MarketClock.LIVE
        self._future = timedelta(seconds=float(config.max_future_seconds))
        self._age = timedelta(seconds=float(config.max_age_seconds))
        self._backwards = timedelta(seconds=float(config.backwards_tolerance_seconds))
        self._cross_age = timedelta(seconds=float(config.cross_venue_max_age_seconds))
        self._windows: dict[tuple[str, str], VenueWindow] = {}
        self._by_symbol: dict[str, list[VenueWindow]] = {}

    def judge(self, tick: TradeTick | QuoteTick, now: datetime | None = None) -> Verdict | None:
        """None if `tick` may move its venue's price, else why not; either way what it teaches the
        guard is kept. `now` is the wall clock, used only with the live clock."""
        if isinstance(tick, TradeTick):
            low = high = price = tick.price
        else:
            low, high = tick.bid_price, tick.ask_price
            price = (low + high) / 2
        found = self._sane(low, high)
        if found is not None:
            return found
        at = tick.market_time
        if self.live and now is not None:
            if at > now + self._future:
                return Verdict(Quarantine.FUTURE_TIME, f"market time {at} is ahead of the wall clock {now}")
            if at < now - self._age:
                return Verdict(Quarantine.STALE_TIME, f"market time {at} is older than {self._age} at {now}")
        key = (tick.venue, tick.symbol)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = VenueWindow(tick.venue, self.config.window)
            self._by_symbol.setdefault(tick.symbol, []).append(window)
        last = window.last_time
        # Live, a tick at or after the wall clock is never "backwards": one accepted just inside the
        # future skew cannot shut out the venue's next real ticks.
        since = min(last, now) if last is not None and now is not None and self.live else last
        if since is not None and at < since - self._backwards:
            return Verdict(Quarantine.TIME_BACKWARDS, f"market time {at} before {tick.venue}'s last {last}")
        found = self._banded(tick, window, price, low, high)
        window.push(price)
        if found is None:
            window.last_time = at if last is None or at > last else last
        return found

    def _sane(self, low: Decimal, high: Decimal) -> Verdict | None:
        """What no market prints, whatever came before (the schema refuses most of it already)."""
        if not (low.is_finite() and high.is_finite()) or low <= 0 or high <= 0:
            return Verdict(Quarantine.NON_POSITIVE_PRICE, f"prices {low} and {high} must be positive")
        if not (MIN_EXPONENT <= low.adjusted() <= MAX_EXPONENT and high.adjusted() <= MAX_EXPONENT):
            return Verdict(
                Quarantine.PRICE_OUT_OF_RANGE, f"{low}..{high} outside 1e{MIN_EXPONENT}..1e{MAX_EXPONENT}"
            )
        if low > high:
            return Verdict(Quarantine.CROSSED_BOOK, f"bid {low} above ask {high}")
        return None

    def _banded(
        self, tick: TradeTick | QuoteTick, window: VenueWindow, price: Decimal, low: Decimal, high: Decimal
    ) -> Verdict | None:
        config = self.config
        if len(window) >= config.min_samples:
            own = window.median()
            if _out_of_band(price, low, high, own, config.band):
                return Verdict(
                    Quarantine.PRICE_BAND_VENUE,
                    f"{price} is more than {config.band} from {tick.venue}'s recent median {own}",
                )
        at = tick.market_time
        others = [
            other.median()
            for other in self._by_symbol[tick.symbol]
            if other is not window
            and other.last_time is not None
            and len(other) >= config.min_samples
            and abs(other.last_time - at) <= self._cross_age
        ]
        if others:
            across = median(others)
            if _out_of_band(price, low, high, across, config.cross_venue_band):
                return Verdict(
                    Quarantine.PRICE_BAND_CROSS_VENUE,
                    f"{price} is more than {config.cross_venue_band} from the other venues' median {across}",
                )
        return None


@dataclass(frozen=True, slots=True)
class VenueMedian:
    """A venue's price as a reference sees it: the median of its last `window` prices up to `market_time`
    (kept with every price the view adds, so an order's reference costs a lookup per venue, not a sort)."""

    market_time: datetime
    median: Decimal


def reference_price(
    venues: Iterable[VenueMedian], window: timedelta, *, not_before: datetime | None = None
) -> Decimal | None:
    """The price risk values an order at: the median over venues of each venue's recent median, of the
    venues whose latest price (as of the order) is within `window` of the newest one. A single outlier tick
    moves no venue's median, and one venue does not move the median over three or more. None when there are
    no prices, or the newest is before `not_before` (live: a price too old to value an order at)."""
    found = list(venues)
    if not found:
        return None
    newest = max(venue.market_time for venue in found)
    if not_before is not None and newest < not_before:
        return None
    return median([venue.median for venue in found if venue.market_time >= newest - window])
