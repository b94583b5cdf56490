"""`zvt replay-market`: recorded ticks into `Topics.MARKET_TICKS`, in market-time order, optionally paced.

The I/O shell over `marketreplay` (readers, merge, pacing, stats are pure there). Every file is read and
validated once before anything is sent (as `zvt publish file` does), so a bad row stops the replay with its
file and line and nothing half-sent; the second pass sends. Events keep the registry's key (the symbol), so
per symbol Kafka keeps the replay's order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from marketreplay.readers import Tick, read_file
from marketreplay.summary import ReplayStats
from marketreplay.timeline import merge_by_market_time, send_offsets
from runtime.producer import event_producer, send_event
from runtime.settings import Settings

# Unacknowledged sends allowed in flight before waiting for the oldest: bounds memory at full speed.
MAX_IN_FLIGHT = 5_000


def replay_ticks(paths: Sequence[Path], limit: int | None = None) -> Iterator[Tick]:
    """The ticks of all files merged by market time, the first `limit` of them."""
    merged = merge_by_market_time(read_file(path) for path in paths)
    return itertools.islice(merged, limit)


def count_ticks(paths: Sequence[Path], limit: int | None = None) -> int:
    """Parse (and so validate) everything that would be sent; raises `ReplayFileError` on a bad row."""
    return sum(1 for _ in replay_ticks(paths, limit))


async def replay_market(
    settings: Settings,
    paths: Sequence[Path],
    speed: float | None,
    *,
    limit: int | None = None,
    max_gap: timedelta | None = None,
    on_sent: Callable[[Tick], None] = lambda _: None,
) -> ReplayStats:
    """Send the merged ticks, each at its pacing offset after the start; wait for every ack."""
    stats = ReplayStats()
    ticks, timed = itertools.tee(replay_ticks(paths, limit))
    offsets = send_offsets((tick.market_time for tick in timed), speed, max_gap)
    loop = asyncio.get_running_loop()
    producer = event_producer(settings)
    await producer.start()
    try:
        in_flight: deque[asyncio.Future[Any]] = deque()
        start = loop.time()
        for tick, offset in zip(ticks, offsets, strict=True):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            in_flight.append((await send_event(producer, settings, tick))[1])
            while len(in_flight) > MAX_IN_FLIGHT:
                await in_flight.popleft()
            stats.add(tick)
            on_sent(tick)
        for future in in_flight:
            await future
        stats.wall_seconds = loop.time() - start
        return stats
    finally:
        await producer.stop()
