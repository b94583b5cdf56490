"""The Redis Streams event bus: idempotent publish, consumer groups, reclaim, settle (ack + dead letters).

Publishing is idempotent on `event_id`: one Lua script per batch skips every id published in the stream's
recent window (a sorted set of about `max_length` ids, the stream's own size), appends the rest with an
approximate MAXLEN, and records their ids, atomically. So a producer may retry a publish whose reply it
never saw (a Redis restart, a bridge crash before its Kafka commit) without doubling an entry.

Durability: with `appendonly yes` + `appendfsync always` (deploy/local/redis.sh) Redis fsyncs the AOF before
it replies, so an entry whose XADD returned survives a restart; with `everysec` up to a second of
acknowledged entries could be lost in a crash of the machine or of Redis itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from bridge.dead_letter import StreamDeadLetter
from bridge.entries import Envelope
from schemas import Event
from schemas.codec import STREAM_FIELD_DATA, STREAM_FIELD_ID, STREAM_FIELD_TYPE
from schemas.signing import STREAM_FIELD_SIGNATURE
from topics.registry import RedisStream

log = logging.getLogger(__name__)

# Events per script call: enough to amortise the round trip, few enough not to stall Redis (~1 ms).
PUBLISH_CHUNK = 1000

# KEYS: stream, published ids. ARGV: maxlen, window, now, the four field names, then (id, type, data,
# signature) per event.
# Returns one entry id per event, '' for an id already published within the window.
_PUBLISH_LUA = """
local stream, ids = KEYS[1], KEYS[2]
local maxlen, window, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out = {}
for i = 8, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('ZADD', ids, 'NX', now, id) == 1 then
    out[#out + 1] = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
      ARGV[4], ARGV[i + 1], ARGV[5], id, ARGV[6], ARGV[i + 2], ARGV[7], ARGV[i + 3])
  else
    out[#out + 1] = ''
  end
end
if redis.call('ZCARD', ids) > window then
  redis.call('ZREMRANGEBYRANK', ids, 0, -(window + 1))
end
return out
"""

# Errors after which the same command may simply be sent again (Redis restarting or loading its AOF).
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


def redis_retrying(give_up_after: float | None = None) -> AsyncRetrying:
    """Retry transient Redis errors with capped exponential backoff (forever unless `give_up_after` s)."""
    return AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential(multiplier=0.05, max=2),
        stop=stop_after_delay(give_up_after) if give_up_after is not None else (lambda _state: False),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One stream entry as read: id, raw fields, and how many times the group has delivered it."""

    entry_id: bytes
    fields: dict[bytes, bytes]
    deliveries: int


@dataclass
class StreamBus:
    """Streams of the registry on one Redis, under one deployment prefix."""

    client: redis.Redis
    prefix: str = ""

    def __post_init__(self) -> None:
        self._publish_script = self.client.register_script(_PUBLISH_LUA)

    def name(self, stream: RedisStream) -> str:
        return stream.full_name(self.prefix)

    async def publish(self, stream: RedisStream, event: Event) -> bytes | None:
        """Append one event; returns its entry id, or None when its id was already published."""
        return (await self.publish_many(stream, [event]))[0]

    async def publish_many(self, stream: RedisStream, events: Sequence[Event]) -> list[bytes | None]:
        return await self.publish_envelopes(stream, [Envelope.signed(event) for event in events])

    async def publish_envelopes(
        self, stream: RedisStream, envelopes: Sequence[Envelope]
    ) -> list[bytes | None]:
        """Append signed events whose bytes are already checked (the bridge's path); None marks a
        duplicate."""
        added: list[bytes | None] = []
        names = (STREAM_FIELD_TYPE, STREAM_FIELD_ID, STREAM_FIELD_DATA, STREAM_FIELD_SIGNATURE)
        for start in range(0, len(envelopes), PUBLISH_CHUNK):
            args: list[Any] = [stream.max_length, stream.max_length, int(time.time() * 1000), *names]
            for item in envelopes[start : start + PUBLISH_CHUNK]:
                args += (item.event_id, item.event_type, item.data, item.signature)
            reply = await self._publish_script(
                keys=[self.name(stream), stream.published_ids_name(self.prefix)], args=args
            )
            added += [entry_id or None for entry_id in cast(list[bytes], reply)]
        return added

    async def ensure_group(self, stream: RedisStream, group: str, start_id: str = "0") -> None:
        """Create the group (and the stream) unless it exists; start `0` reads the stream from its start."""
        try:
            await self.client.xgroup_create(self.name(stream), group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def backlog(self, stream: RedisStream, group: str) -> int | None:
        """Entries `group` has not acknowledged yet (never delivered + pending); None without the group, or
        when Redis cannot count the undelivered ones (entries deleted from the middle of the stream)."""
        try:
            groups: Any = await self.client.xinfo_groups(self.name(stream))
        except ResponseError:  # no such stream
            return None
        for info in groups:
            if info["name"] in (group, group.encode()):
                lag = info.get("lag")
                return None if lag is None else int(lag) + int(info["pending"])
        return None

    async def read_new(
        self, stream: RedisStream, group: str, consumer: str, count: int, block_ms: int
    ) -> list[RawEntry]:
        reply: Any = await self.client.xreadgroup(
            group, consumer, {self.name(stream): ">"}, count=count, block=block_ms
        )
        if not reply:
            return []
        return [RawEntry(entry_id, fields, 1) for entry_id, fields in reply[0][1] if fields is not None]

    async def claim_idle(
        self, stream: RedisStream, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[RawEntry]:
        """Take over entries pending longer than `min_idle_ms` on any consumer (a dead one, or ourselves
        after a failed handler), with their delivery counts (the claim counts as one more delivery)."""
        name = self.name(stream)
        claimed: list[tuple[bytes, dict[bytes, bytes]]] = []
        start: bytes | str = "0-0"
        while len(claimed) < count:
            reply: Any = await self.client.xautoclaim(
                name, group, consumer, min_idle_time=min_idle_ms, start_id=start, count=count - len(claimed)
            )
            start, entries = reply[0], reply[1]
            claimed += [(entry_id, fields) for entry_id, fields in entries if fields is not None]
            if start in (b"0-0", "0-0"):
                break
        if not claimed:
            return []
        pending: Any = await self.client.xpending_range(
            name,
            group,
            min=claimed[0][0],
            max=claimed[-1][0],
            count=len(claimed) * 2 + 100,
            consumername=consumer,
        )
        delivered = {item["message_id"]: int(item["times_delivered"]) for item in pending}
        return [RawEntry(entry_id, fields, delivered.get(entry_id, 2)) for entry_id, fields in claimed]

    async def settle(
        self,
        stream: RedisStream,
        group: str,
        done: Sequence[bytes],
        dead: Sequence[tuple[RawEntry, StreamDeadLetter]] = (),
    ) -> None:
        """In one MULTI: append the dead letters to the dead-letter stream (never trimmed) and acknowledge
        them with the handled entries, so an entry is never both lost and acknowledged."""
        ids = [*done, *(raw.entry_id for raw, _ in dead)]
        if not ids:
            return
        name = self.name(stream)
        async with self.client.pipeline(transaction=True) as pipe:
            for raw, letter in dead:
                pipe.xadd(stream.dead_letter_name(self.prefix), cast(Any, letter.entry(raw.fields)))
            pipe.xack(name, group, *ids)
            await pipe.execute()
