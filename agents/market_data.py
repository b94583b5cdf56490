"""Market data stage: ticks in, the latest price and book top per venue and symbol out."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition

from agents.stage import Batch, Item, Stage, register
from agents.tick_log import last_ticks_before
from schemas import QuoteTick, TradeTick
from topics import Topics
from trading.market_state import VenueMarket, derive, state_from


@dataclass
class PartitionMarkets:
    """The states of one partition's venues and symbols, valid for reading on from `next_offset`."""

    next_offset: int
    markets: dict[str, VenueMarket] = field(default_factory=dict)


# Process memory, not a changelog (no state write per tick): trusted only while this worker reads a
# partition without a break. After an assignment that does not resume exactly where this worker stopped,
# or a redelivery, the partition's states are dropped; each is then rebuilt from the tick log (the last
# trade and quote before the tick) when its key is next seen.
partitions: dict[int, PartitionMarkets] = {}


def _key(tick: TradeTick | QuoteTick) -> str:
    return f"{tick.venue}:{tick.symbol}"


async def _rebuild_missing(items: list[Item], batch: Batch[VenueMarket]) -> None:
    """Before a batch: reset a partition read again from further back, and read the state of every key
    this worker has not seen since from the tick log, at its first tick in the batch."""
    seen: set[int] = set()
    for item in items:
        tick = item.event
        assert isinstance(tick, TradeTick | QuoteTick)
        known = partitions.get(item.partition)
        if item.partition not in seen:
            seen.add(item.partition)
            # A fetch is contiguous: only a partition's first record of a batch can go back.
            if known is None or item.offset < known.next_offset:
                known = partitions[item.partition] = PartitionMarkets(item.offset)
        assert known is not None
        key = _key(tick)
        if key not in known.markets:
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
    key = _key(tick)
    state, events = derive(known.markets[key], tick, sequence=item.offset)
    # Prices are latest-value data and their ids deterministic: a tick processed again after a crash
    # derives the same events from the same state, which consumers drop.
    batch.publish(events)
    known.markets[key] = state
    known.next_offset = item.offset + 1


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
