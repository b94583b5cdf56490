"""Market data agent: ticks in, the latest price and book top per venue and symbol out."""

from __future__ import annotations

from dataclasses import dataclass, field

from faust.streams import current_event

from agents.app import app, faust_topic, settings
from agents.consumer import consume, publish
from agents.tick_log import last_ticks_before
from schemas import Event, QuoteTick, TradeTick
from topics import Topics
from trading.market_state import VenueMarket, derive, state_from


@dataclass
class PartitionMarkets:
    """The states of one partition's venues and symbols, valid for reading on from `next_offset`."""

    next_offset: int
    markets: dict[str, VenueMarket] = field(default_factory=dict)


# Process memory, not a table (no changelog write per tick): trusted only while this worker reads a
# partition without a break. The first tick after a start or an assignment, a redelivery after a seek, or
# a gap drops the partition's states; each is then rebuilt from the tick log when its key is next seen.
partitions: dict[int, PartitionMarkets] = {}


async def _on_tick(event: Event) -> None:
    assert isinstance(event, TradeTick | QuoteTick)
    record = current_event()
    assert record is not None  # consume() calls us while handling a record
    message = record.message
    known = partitions.get(message.partition)
    if known is None or known.next_offset != message.offset:
        known = partitions[message.partition] = PartitionMarkets(message.offset)
    key = f"{event.venue}:{event.symbol}"
    state = known.markets.get(key)
    if state is None:
        state = state_from(
            *await last_ticks_before(
                settings.kafka_bootstrap,
                message.topic,
                message.partition,
                message.offset,
                event.venue,
                event.symbol,
            )
        )
    state, events = derive(state, event, sequence=message.offset)
    # Prices are latest-value data: no need to wait for each acknowledgement (ids are deterministic anyway;
    # a tick processed again derives the same events from the same state).
    await publish(events, durable=False)
    known.markets[key] = state
    known.next_offset = message.offset + 1


@app.agent(faust_topic(Topics.MARKET_TICKS), name="market_data")
async def track_market(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "market_data",
        {Topics.MARKET_TICKS: (TradeTick, QuoteTick)},
        _on_tick,
    )
