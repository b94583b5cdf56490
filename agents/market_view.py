"""Every worker's own copy of the market: last prices and recent book tops of every venue and symbol.

Risk (price collar, exposure), the router (book tops of all venues), the paper venue (the book as of an
order's time) and the portfolio (marks) need the whole market, not the partitions a worker happens to
own; so each worker reads market.prices and market.orderbooks in full, outside the consumer group, from a
short backfill before the end, and agents wait until it has caught up before their first event.

The view is fed by its own consumer, so it can be behind the agent asking it. An order decided at a market
time therefore waits (`wait_for`) until the view holds the market of that time, at most
`market_settle_seconds`: the same order is then judged and filled the same way however the two consumers
happen to race, which is what makes a replay deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.app import app, settings
from agents.settings import get_agent_settings, get_trading_config
from agents.stage import has_backlog
from runtime.clients import kafka_security
from schemas import OrderBookUpdated, PricesThrough, PriceUpdated
from schemas.signing import KeyRing, SignatureError, keyring, signature_in
from topics import Topics
from topics.registry import KafkaTopic
from trading.books import BookHistory, BookTop, MarketHistory
from trading.config import MarketClock
from trading.tick_guard import VenueMedian, VenueWindow, reference_price

log = logging.getLogger(__name__)


K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price as the view keeps it: what decisions read of a price.updated, nothing more."""

    venue: str
    price: Decimal
    market_time: datetime


T = TypeVar("T", BookTop, PricePoint)


def _history(histories: dict[K, MarketHistory[T]], key: K) -> MarketHistory[T]:
    """The history under `key`, made on first use only (not a new deque per event, as setdefault would)."""
    history = histories.get(key)
    if history is None:
        history = histories[key] = MarketHistory(get_trading_config().paper.book_history)
    return history


def _reaches(history: MarketHistory[Any] | None, at: datetime) -> bool:
    """Whether `history` holds an item of market time `at` or later."""
    latest = history.latest if history is not None else None
    return latest is not None and latest.market_time >= at


class MarketView:
    def __init__(self) -> None:
        self.books: dict[tuple[str, str], BookHistory] = {}
        self.price_history: dict[str, MarketHistory[PricePoint]] = {}  # symbol -> its prices, any venue
        self.prices: dict[str, tuple[datetime, Decimal]] = {}  # symbol -> latest (market time, price)
        self.price_versions: dict[str, int] = {}  # bumped on every new price, to find re-marks cheaply
        self._price_adds: dict[str, int] = {}  # bumped on every price added (late ones too)
        # symbol -> venue -> its recent prices, and the rolling median at each of its prices
        self._venue_medians: dict[str, dict[str, tuple[VenueWindow, MarketHistory[VenueMedian]]]] = {}
        self._references: dict[tuple[str, datetime, int], Decimal | None] = {}  # reference_price's
        self._caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._read: dict[TopicPartition, int] = {}  # next offset to apply, per partition
        self._arrived = asyncio.Event()  # set (and replaced) after each batch the view applies
        self.skipped = 0
        self.refused = 0

    def last_price(self, symbol: str) -> Decimal | None:
        found = self.prices.get(symbol)
        return found[1] if found else None

    def last_prices(self) -> dict[str, Decimal]:
        return {symbol: price for symbol, (_, price) in self.prices.items()}

    def prices_at(self, market_time: datetime | None) -> dict[str, Decimal]:
        """Each symbol's price as an order decided at `market_time` saw it: its last price at or before
        then, so the same order is judged the same however late it is processed. Without a market time
        (an order placed by hand), or where the view holds nothing that old (a wall-clock timestamp behind
        the exchanges' clocks), the latest price."""
        if market_time is None:
            return self.last_prices()
        latest = self.last_prices()
        found = {symbol: history.as_of(market_time) for symbol, history in self.price_history.items()}
        return {symbol: price.price if price else latest[symbol] for symbol, price in found.items()}

    def reference_price(self, symbol: str, at: datetime) -> Decimal | None:
        """The price risk values an order of `symbol` decided at `at` at (its market time, or when it
        was requested): `trading.tick_guard.reference_price` over each venue's median as of `at` (the
        latest ones if none is that old), which one venue's outlier, in price or in time, cannot move.
        With the live clock, None when the newest is older than `max_age_seconds` before `at`."""
        venues = self._venue_medians.get(symbol)
        if not venues:
            return None
        key = (symbol, at, self._price_adds.get(symbol, 0))
        if key in self._references:
            return self._references[key]
        if len(self._references) > 4096:
            self._references.clear()
        config = get_trading_config().tick_guard
        not_before = None
        if config.clock is MarketClock.LIVE:
            not_before = at - timedelta(seconds=float(config.max_age_seconds))
        found = [median for _, history in venues.values() if (median := history.as_of(at)) is not None]
        if not found:  # nothing that old (a wall-clock time behind the exchanges' clocks): the latest
            found = [median for _, history in venues.values() if (median := history.latest) is not None]
        reference = self._references[key] = reference_price(
            found,
            timedelta(seconds=float(config.reference_window_seconds)),
            not_before=not_before,
        )
        return reference

    def risk_prices(
        self, symbols: Iterable[str], market_time: datetime | None, at: datetime
    ) -> dict[str, Decimal]:
        """What risk judges an order decided at `at` on: `prices_at(market_time)`, with each of `symbols`
        (the order's and the account's) at its reference price, or left out where it has none."""
        prices = self.prices_at(market_time)
        for symbol in symbols:
            reference = self.reference_price(symbol, at)
            if reference is None:
                prices.pop(symbol, None)
            else:
                prices[symbol] = reference
        return prices

    def book_at(self, venue: str, symbol: str, market_time: datetime | None) -> BookTop | None:
        """The book an order decided at `market_time` saw, with the same fallbacks as `prices_at`."""
        at = self.book_as_of(venue, symbol, market_time) if market_time is not None else None
        return at or self.book(venue, symbol)

    def book(self, venue: str, symbol: str) -> BookTop | None:
        history = self.books.get((venue, symbol))
        return history.latest if history else None

    def book_as_of(self, venue: str, symbol: str, when: datetime) -> BookTop | None:
        history = self.books.get((venue, symbol))
        return history.as_of(when) if history else None

    def has_price(self, symbol: str, at: datetime) -> bool:
        """Whether the view holds `symbol`'s price at `at`: an order decided at `at` acted on that price, so
        it was published before the order and is bound to arrive."""
        return _reaches(self.price_history.get(symbol), at)

    def has_book_since(self, venue: str, symbol: str, at: datetime) -> bool:
        """Whether the book in force at `at` has arrived: the view holds a top of that time or later (tops of
        one venue and symbol come in market-time order)."""
        return _reaches(self.books.get((venue, symbol)), at)

    async def wait_for(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Until `condition` holds of the view, re-checked after each batch it applies, for at most
        `seconds` (a replay's end, a quiet market: what the view holds is then all there is); whether it
        holds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not condition():
                    await self._arrived.wait()
        return condition()

    def _batch_applied(self) -> None:
        """Wake every `wait_for` on the view; each checks its own condition again."""
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    def apply(self, event: object) -> None:
        if isinstance(event, PriceUpdated):
            self._add_price(event.symbol, PricePoint(event.venue, event.price, event.market_time))
        elif isinstance(event, OrderBookUpdated):
            bid = event.bids[0] if event.bids else None
            ask = event.asks[0] if event.asks else None
            top = BookTop(
                venue=event.venue,
                symbol=event.symbol,
                bid_price=bid.price if bid else None,
                bid_size=bid.size if bid else Decimal(0),
                ask_price=ask.price if ask else None,
                ask_size=ask.size if ask else Decimal(0),
                market_time=event.market_time,
            )
            _history(self.books, (event.venue, event.symbol)).add(top)

    def _add_price(self, symbol: str, point: PricePoint) -> None:
        seen = self.prices.get(symbol)
        _history(self.price_history, symbol).add(point)
        self._price_adds[symbol] = self._price_adds.get(symbol, 0) + 1
        venues = self._venue_medians.get(symbol)
        if venues is None:
            venues = self._venue_medians[symbol] = {}
        found = venues.get(point.venue)
        if found is None:
            window = VenueWindow(point.venue, get_trading_config().tick_guard.window)
            found = venues[point.venue] = (window, MarketHistory(get_trading_config().paper.book_history))
        found[0].push(point.price)
        found[1].add(VenueMedian(point.market_time, found[0].median()))
        if seen is None or point.market_time >= seen[0]:
            self.prices[symbol] = (point.market_time, point.price)
            self.price_versions[symbol] = self.price_versions.get(symbol, 0) + 1

    def apply_record(self, data: bytes, signature: bytes | None, ring: KeyRing | None = None) -> None:
        """Apply a price.updated or orderbook.updated as the market data stage wrote it, reading only the
        fields the view keeps: about a tenth of a full decode, and this view reads every price and book.
        Both topics are written by the market data stage alone, which validated the ticks they come from;
        anything that does not parse is counted in `skipped`, and what is not signed (the event store's
        sink dead-letters it) in `refused`."""
        try:
            (ring or keyring()).verify(data, signature)
        except SignatureError:
            self.refused += 1
            return
        try:
            raw = orjson.loads(data)
            kind = raw["event_type"]
            at = datetime.fromisoformat(raw["market_time"])
            if kind == PriceUpdated.EVENT_TYPE:
                self._add_price(raw["symbol"], PricePoint(raw["venue"], Decimal(raw["price"]), at))
            elif kind == OrderBookUpdated.EVENT_TYPE:
                bids, asks = raw["bids"], raw["asks"]
                top = BookTop(
                    venue=raw["venue"],
                    symbol=raw["symbol"],
                    bid_price=Decimal(bids[0]["price"]) if bids else None,
                    bid_size=Decimal(bids[0]["size"]) if bids else Decimal(0),
                    ask_price=Decimal(asks[0]["price"]) if asks else None,
                    ask_size=Decimal(asks[0]["size"]) if asks else Decimal(0),
                    market_time=at,
                )
                _history(self.books, (top.venue, top.symbol)).add(top)
            elif kind != PricesThrough.EVENT_TYPE:  # the strategies' business, not the view's
                self.skipped += 1
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError, ArithmeticError):
            self.skipped += 1

    def behind(self) -> bool:
        """Whether prices or books this view's last fetch saw are not applied yet (a backlog, not a quiet
        market)."""
        return has_backlog(self._consumer, self._read)

    async def wait_caught_up(self) -> None:
        await self._caught_up.wait()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def run(self, bootstrap: str, prefix: str, topics: list[KafkaTopic], backfill: int) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, **kafka_security(settings), enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        self._consumer = consumer
        try:
            # The registry's partition counts: a consumer outside a group learns no topic metadata itself.
            partitions = [
                TopicPartition(topic.full_name(prefix), p)
                for topic in topics
                for p in range(topic.partitions)
            ]
            consumer.assign(partitions)
            beginnings = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(beginnings[tp], ends[tp] - backfill))
            pending = {tp: end for tp, end in ends.items() if end > max(beginnings[tp], 0)}
            if not pending:
                self._caught_up.set()
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                ring = keyring()
                for tp, records in batches.items():
                    for record in records:
                        self.apply_record(record.value or b"", signature_in(record.headers), ring)
                    if records:
                        self._read[tp] = records[-1].offset + 1
                if batches:
                    self._batch_applied()
                if not self._caught_up.is_set():
                    for tp in list(pending):
                        if await consumer.position(tp) >= pending[tp]:
                            del pending[tp]
                    if not pending:
                        log.info(
                            "market view caught up: %d books, %d prices", len(self.books), len(self.prices)
                        )
                        self._caught_up.set()
        finally:
            await consumer.stop()

    def summary(self) -> dict[str, Any]:
        return {
            "caught_up": self.caught_up,
            "refused_unsigned": self.refused,
            "prices": {symbol: str(price) for symbol, (_, price) in sorted(self.prices.items())},
            "books": {
                f"{venue}:{symbol}": {
                    "bid": str(top.bid_price),
                    "ask": str(top.ask_price),
                    "market_time": top.market_time.isoformat(),
                }
                for (venue, symbol), history in sorted(self.books.items())
                if (top := history.latest) is not None
            },
        }


market_view = MarketView()


@app.task  # type: ignore[untyped-decorator]
async def follow_market() -> None:
    await market_view.run(
        settings.kafka_bootstrap,
        settings.topic_prefix,
        [Topics.PRICES, Topics.ORDER_BOOKS],
        get_agent_settings().market_view_backfill,
    )


@app.page("/zvt/market/")
async def market_page(web: Any, request: Any) -> Any:
    """The worker's view of the market, on the Faust web monitor."""
    return web.json(market_view.summary())
