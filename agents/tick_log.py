"""Reading the tick log back: the last trade and quote of a venue and symbol before an offset, and the
ticks just before an offset (the tick guard's warm-up).

How the market data agent rebuilds a venue and symbol's state when it takes a partition over (or its own
reading breaks off): the state is a function of the ticks before, so it is read from them, not guessed
from what was last published (which may be ahead of the ticks still to be processed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.clients import kafka_security
from runtime.settings import get_settings
from schemas import EventDecodeError, QuoteTick, TradeTick
from schemas.signing import SignatureError, verified_event

CHUNK = 2_000  # records read per step back
MAX_BACK = 200_000  # how far back a search goes before settling for what it found


def _reader(bootstrap: str, tp: TopicPartition) -> AIOKafkaConsumer:
    """A consumer of `tp` alone, outside any group, as this process's principal."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **kafka_security(get_settings()), enable_auto_commit=False, group_id=None
    )
    consumer.assign([tp])
    return consumer


async def last_ticks_before(
    bootstrap: str, topic: str, partition: int, offset: int, venue: str, symbol: str
) -> tuple[TradeTick | None, QuoteTick | None]:
    """The last trade and the last quote of `venue` and `symbol` at offsets below `offset`, searching back
    a chunk at a time until both are found (or the partition's beginning, or `MAX_BACK` records)."""
    tp = TopicPartition(topic, partition)
    consumer = _reader(bootstrap, tp)
    await consumer.start()
    trade: TradeTick | None = None
    quote: QuoteTick | None = None
    try:
        beginning = (await consumer.beginning_offsets([tp]))[tp]
        end = offset
        while end > max(beginning, offset - MAX_BACK) and (trade is None or quote is None):
            start = max(beginning, end - CHUNK)
            chunk_trade, chunk_quote = await _last_in(consumer, tp, start, end, venue, symbol)
            trade, quote = trade or chunk_trade, quote or chunk_quote
            end = start
    finally:
        await consumer.stop()
    return trade, quote


async def _ticks_in(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> AsyncIterator[tuple[TradeTick | QuoteTick, int]]:
    """The ticks at offsets `start` to `end` - 1, each with its record's timestamp (ms); what does not
    verify and decode was dead-lettered by the agent, never part of its state."""
    consumer.seek(tp, start)
    while await consumer.position(tp) < end:
        for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
            if record.offset >= end or record.value is None:
                continue
            try:
                tick = verified_event(record.value, record.headers)
            except (SignatureError, EventDecodeError):
                continue
            if isinstance(tick, TradeTick | QuoteTick):
                yield tick, record.timestamp


async def _last_in(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int, venue: str, symbol: str
) -> tuple[TradeTick | None, QuoteTick | None]:
    """The last trade and quote of `venue` and `symbol` at offsets `start` to `end` - 1."""
    trade: TradeTick | None = None
    quote: QuoteTick | None = None
    async for tick, _ in _ticks_in(consumer, tp, start, end):
        if (tick.venue, tick.symbol) == (venue, symbol):
            if isinstance(tick, TradeTick):
                trade = tick
            else:
                quote = tick
    return trade, quote


async def ticks_before(
    bootstrap: str, topic: str, partition: int, offset: int, count: int
) -> tuple[int, list[tuple[TradeTick | QuoteTick, int]]]:
    """The offset `count` records before `offset` (or the partition's beginning) and the ticks from there
    to `offset`, in offset order, each with its record's timestamp (ms): what the market data guard is
    warmed up on when a worker starts reading a partition."""
    tp = TopicPartition(topic, partition)
    consumer = _reader(bootstrap, tp)
    await consumer.start()
    try:
        start = max((await consumer.beginning_offsets([tp]))[tp], offset - count)
        found = [tick async for tick in _ticks_in(consumer, tp, start, offset)] if start < offset else []
    finally:
        await consumer.stop()
    return start, found
