"""Reading streams from a recorded position, without a consumer group: how a workflow step awaits the
agents' answer to its own order.

Why not a consumer group: a group hands each entry to one of its consumers, but every concurrent run must
see every entry to find its own order's; and a retried step must read the same entries again, which an
acknowledged group entry no longer allows. A position taken before the order is sent (and kept: by Hatchet
as a step output, or in Redis under a key of the order's own, `noted_positions`) makes the read repeatable:
a retry after a crash sees what the first attempt saw, plus what came since, and decides the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from bridge.bus import StreamBus
from bridge.entries import decode_event, entry_data
from schemas import Event
from topics.registry import RedisStream

START = "0-0"


async def positions(bus: StreamBus, streams: Sequence[RedisStream]) -> dict[str, str]:
    """The id of the newest entry of each stream (registry name -> id; `0-0` for an empty stream), asked in
    one round trip (a pipeline, not a transaction: each stream's newest id is all that is read)."""
    pipeline = bus.client.pipeline(transaction=False)
    for stream in streams:
        pipeline.xrevrange(bus.name(stream), count=1)
    replies: list[Any] = await pipeline.execute()
    return {
        stream.name: newest[0][0].decode() if newest else START
        for stream, newest in zip(streams, replies, strict=True)
    }


async def noted_positions(
    bus: StreamBus, streams: Sequence[RedisStream], key: str, keep_seconds: int
) -> dict[str, str]:
    """The streams' positions as first noted under `key`: the first call notes the current ones, every
    later call (a retried task) gets those back, so a read from them still starts before anything an
    earlier attempt caused. One `SET NX GET`: the check and the note are one atomic command."""
    found = await positions(bus, streams)
    earlier: Any = await bus.client.set(key, orjson.dumps(found), nx=True, get=True, ex=keep_seconds)
    return found if earlier is None else dict(orjson.loads(earlier))


async def collect(
    bus: StreamBus,
    streams: Sequence[RedisStream],
    since: Mapping[str, str],
    wanted: Callable[[dict[str, Any]], bool],
    finished: Callable[[Sequence[Event]], bool],
    block_ms: int = 1000,
) -> list[Event]:
    """Events after `since` in `streams` whose JSON body is `wanted`, in stream order, read until
    `finished` holds for them. Bound it with a timeout: it waits as long as nothing finishes it.

    `wanted` sees the parsed body, so entries of other orders are skipped without a full decode.
    """
    cursor: dict[Any, Any] = {bus.name(stream): since.get(stream.name, START) for stream in streams}
    by_name = {bus.name(stream): stream for stream in streams}
    found: dict[str, Event] = {}
    while not (found and finished(list(found.values()))):
        reply: Any = await bus.client.xread(cursor, count=500, block=block_ms)
        for raw_name, entries in reply or []:
            name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
            for entry_id, fields in entries:
                cursor[name] = entry_id.decode()
                data = entry_data(fields)
                if not wanted(orjson.loads(data)):
                    continue
                stream = by_name[name]
                event = decode_event(data, stream.value_types, name)
                found.setdefault(str(event.event_id), event)
    return list(found.values())
