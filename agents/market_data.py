"""Market data stage: ticks in, the latest price and book top per venue and symbol out.

Every tick passes the tick guard first (`trading.tick_guard`): one it refuses is dead-lettered
`quarantined` with its reason and moves no price, here or downstream (the prices, the books, every
worker's market view are derived from the accepted ticks only).

With `ZVT_PAPER_ENGINE`, a batch's last tick of a symbol that moved no price (an unchanged top, or
quarantined) is followed by `market.prices_through` at its time: the strategies, which see prices only,
then declare their progress past it, and the paper matching engine is not left waiting for an order
that no tick of that time can cause (the end of a recording is often such a tick).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from agents.settings import get_agent_settings, get_trading_config
from agents.stage import Batch, Item, Stage, register
from agents.tick_log import last_ticks_before, ticks_before
from runtime.metrics import TICKS_QUARANTINED
from schemas import Event, PricesThrough, PriceUpdated, QuoteTick, TradeTick
from topics import Topics
from topics.dead_letter import DeadLetterReason
from trading.ids import derived_id
from trading.market_state import VenueMarket, derive, state_from
from trading.tick_guard import TickGuard

# Ticks before a partition's first record a worker reads that the guard is warmed up on (and the states
# of the venues and symbols among them rebuilt from, skipping what the guard refuses).
WARMUP_TICKS = 2_000


def _new_guard() -> TickGuard:
    return TickGuard(get_trading_config().tick_guard)


@dataclass
class PartitionMarkets:
    """The states of one partition's venues and symbols, valid for reading on from `next_offset`."""

    next_offset: int
    markets: dict[str, VenueMarket] = field(default_factory=dict)
    guard: TickGuard = field(default_factory=_new_guard)


# Process memory, not a changelog (no state write per tick): trusted only while this worker reads a
# partition without a break. After an assignment that does not resume exactly where this worker stopped,
# or a redelivery, the partition's states are dropped; each is then rebuilt from the tick log (the last
# trade and quote before the tick) when its key is next seen.
partitions: dict[int, PartitionMarkets] = {}


def _key(tick: TradeTick | QuoteTick) -> str:
    return f"{tick.venue}:{tick.symbol}"


_now: datetime | None = None  # the wall clock at the batch's start: the guard's, with the live clock


async def _warm_up(item: Item) -> PartitionMarkets:
    """A partition's states as of `item`, rebuilt from the ticks just before it: the guard judges them
    again (with the live clock, on each record's timestamp, the wall clock of its day), and the venues'
    states are their last accepted trade and quote (further back, where the warm-up saw none)."""
    known = PartitionMarkets(item.offset)
    guard = known.guard
    topic = item.topic.full_name(stage.prefix)
    last: dict[str, tuple[TradeTick | QuoteTick, TradeTick | None, QuoteTick | None]] = {}
    start, earlier = await ticks_before(stage.bootstrap, topic, item.partition, item.offset, WARMUP_TICKS)
    for tick, timestamp_ms in earlier:
        key = _key(tick)
        _, trade, quote = last.setdefault(key, (tick, None, None))  # seen: not searched back from `item`
        if guard.judge(tick, datetime.fromtimestamp(timestamp_ms / 1000, UTC)) is None:
            last[key] = (tick, tick, quote) if isinstance(tick, TradeTick) else (tick, trade, tick)
    for key, (seen, trade, quote) in last.items():
        if trade is None or quote is None:
            older = await last_ticks_before(
                stage.bootstrap, topic, item.partition, start, seen.venue, seen.symbol
            )
            trade, quote = trade or older[0], quote or older[1]
        known.markets[key] = state_from(trade, quote)
    return known


# With the paper engine: (partition, symbol) -> the offset of the symbol's last tick in the current batch.
_last_of_symbol: dict[tuple[int, str], int] = {}
_DECLARE_PROGRESS = get_agent_settings().paper_engine


def prices_through(item: Item, tick: TradeTick | QuoteTick, derived: list[Event]) -> list[Event]:
    """At a symbol's last tick of the batch that moved no price: how far its prices are derived."""
    if not _DECLARE_PROGRESS or _last_of_symbol.get((item.partition, tick.symbol)) != item.offset:
        return []
    if any(isinstance(event, PriceUpdated) for event in derived):
        return []  # the price says it
    return [
        tick.caused(
            PricesThrough,
            event_id=derived_id(tick.event_id, "prices_through"),
            symbol=tick.symbol,
            market_time=tick.market_time,
        )
    ]


async def _rebuild_missing(items: list[Item], batch: Batch[VenueMarket]) -> None:
    """Before a batch: reset a partition read again from further back (its guard warmed up again), and
    read the state of every key this worker has not seen since from the tick log, at its first tick in the
    batch."""
    global _now
    _now = datetime.now(UTC)
    if _DECLARE_PROGRESS:
        _last_of_symbol.clear()
        _last_of_symbol.update(
            {(item.partition, item.event.symbol): item.offset for item in items}  # type: ignore[attr-defined]
        )
    seen: set[int] = set()
    for item in items:
        tick = item.event
        assert isinstance(tick, TradeTick | QuoteTick)
        known = partitions.get(item.partition)
        if item.partition not in seen:
            seen.add(item.partition)
            # A fetch is contiguous: only a partition's first record of a batch can go back.
            if known is None or item.offset < known.next_offset:
                known = partitions[item.partition] = await _warm_up(item)
        assert known is not None
        key = _key(tick)
        if key not in known.markets:  # not among the warm-up's ticks: its last trade and quote, further back
            known.markets[key] = state_from(
                *await last_ticks_before(
                    stage.bootstrap,
                    item.topic.full_name(stage.prefix),
                    item.partition,
                    item.offset,
                    tick.venue,
                    tick.symbol,
                )
            )


async def _keep_if_resumed(assigned: set[TopicPartition]) -> None:
    """Keep a partition's states only where reading resumes exactly where this worker left off."""
    consumer = stage.consumer
    assert consumer is not None
    mine = {tp.partition: tp for tp in assigned}
    for partition in list(partitions):
        tp = mine.get(partition)
        if tp is None or await consumer.committed(tp) != partitions[partition].next_offset:
            del partitions[partition]


def _on_tick(item: Item, batch: Batch[VenueMarket]) -> None:
    tick = item.event
    assert isinstance(tick, TradeTick | QuoteTick)
    known = partitions[item.partition]
    known.next_offset = item.offset + 1
    verdict = known.guard.judge(tick, _now)
    if verdict is not None:
        TICKS_QUARANTINED.labels(verdict.reason.value).inc()
        batch.dead_letter(item, DeadLetterReason.QUARANTINED, str(verdict))
        batch.publish(prices_through(item, tick, []))
        return
    key = _key(tick)
    state, events = derive(known.markets[key], tick, sequence=item.offset)
    # Prices are latest-value data and their ids deterministic: a tick processed again after a crash
    # derives the same events from the same state, which consumers drop.
    batch.publish(events)
    batch.publish(prices_through(item, tick, events))
    known.markets[key] = state


stage: Stage[VenueMarket] = register(
    Stage(
        "market_data",
        {Topics.MARKET_TICKS: (TradeTick, QuoteTick)},
        _on_tick,
        dedupe=False,
        prepare=_rebuild_missing,
        on_assigned=_keep_if_resumed,
    )
)
