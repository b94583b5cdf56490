"""A consumer-group worker on one stream: read, decode, handle, acknowledge; reclaim; dead-letter.

Delivery is at least once per group: an entry is acknowledged only after its handler returned, so a consumer
that dies in between leaves it pending, and any live consumer of the group claims it (XAUTOCLAIM) once it
has been idle `claim_idle_ms`. A handler that raises leaves the entry pending too; it is retried the same
way until it has been delivered `max_deliveries` times, then set aside in the stream's dead-letter stream
with its last error. Undecodable and invalid entries go there at once.

Idempotence: the stream itself holds each event once (publishing is idempotent on `event_id`, see `bus`),
so the only repeat a handler can see is a redelivery after a consumer died between its effect and XACK.
No bookkeeping of handled ids on the bus can close that gap (a "handled" mark written with the ack has the
same gap; one written before the handler turns at-least-once into at-most-once), so handlers key their
effects by `event_id`, as the agents and the event store already do; `Delivery.deliveries > 1` tells them
when a repeat is possible.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bridge.bus import RawEntry, StreamBus, redis_retrying
from bridge.dead_letter import StreamDeadLetter
from bridge.entries import RejectedError, decode_event, entry_data
from runtime.metrics import DEAD_LETTERS
from schemas import Event
from topics.dead_letter import DeadLetterReason
from topics.registry import RedisStream

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """What a handler gets: the decoded value, its entry id and the how-manieth delivery this is."""

    value: T
    entry_id: bytes
    deliveries: int


# A batch handler returns, per delivery, None when handled or the exception that made it fail.
BatchHandler = Callable[[Sequence[Delivery[T]]], Awaitable[Sequence[BaseException | None]]]
Decoder = Callable[[bytes, tuple[type[Event], ...], str], T]


def one_at_a_time(handler: Callable[[Delivery[T]], Awaitable[None]]) -> BatchHandler[T]:
    """A batch handler calling `handler` on each delivery in stream order; one failure stops nothing."""

    async def handle(deliveries: Sequence[Delivery[T]]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for delivery in deliveries:
            try:
                await handler(delivery)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    return handle


def consumer_name() -> str:
    """Unique per process: a restarted process is a new consumer; its predecessor's entries get claimed."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ConsumerConfig:
    batch: int = 500
    block_ms: int = 500  # also bounds how long a stop request waits
    claim_idle_ms: int = 30_000  # an entry pending this long on a consumer is presumed abandoned
    max_deliveries: int = 5


@dataclass
class StatsCounter:
    handled: int = 0
    failed: int = 0
    dead_letters: int = 0
    claimed: int = 0


@dataclass
class StreamConsumer(Generic[T]):
    """Runs `handler` over `stream` as member `name` of `group` until `stopping` is set."""

    bus: StreamBus
    stream: RedisStream
    group: str
    handler: BatchHandler[T]
    decode: Decoder[T]
    config: ConsumerConfig = field(default_factory=ConsumerConfig)
    name: str = field(default_factory=consumer_name)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    stats: StatsCounter = field(default_factory=StatsCounter)
    _errors: dict[bytes, str] = field(default_factory=dict)  # last error of entries left pending here
    _next_claim: float = 0.0

    async def run(self) -> None:
        async for attempt in redis_retrying():
            with attempt:
                await self.bus.ensure_group(self.stream, self.group)
        while not self.stopping.is_set():
            async for attempt in redis_retrying():
                with attempt:
                    await self.step()

    async def step(self) -> int:
        """One round: reclaim abandoned entries when due, then read and handle new ones."""
        entries: list[RawEntry] = []
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.config.claim_idle_ms / 2000
            entries = await self.bus.claim_idle(
                self.stream, self.group, self.name, self.config.claim_idle_ms, self.config.batch
            )
            self.stats.claimed += len(entries)
        if not entries:
            entries = await self.bus.read_new(
                self.stream, self.group, self.name, self.config.batch, self.config.block_ms
            )
        await self.process(entries)
        return len(entries)

    async def process(self, entries: Sequence[RawEntry]) -> None:
        where = self.bus.name(self.stream)
        dead: list[tuple[RawEntry, StreamDeadLetter]] = []
        usable: list[tuple[RawEntry, Delivery[T]]] = []
        for raw in entries:
            if raw.deliveries > self.config.max_deliveries:  # its consumers kept dying on it
                error = self._errors.pop(
                    raw.entry_id, f"not acknowledged after {raw.deliveries - 1} deliveries"
                )
                dead.append((raw, self._letter(raw, DeadLetterReason.PROCESSING_FAILED, error)))
                continue
            try:
                value = self.decode(entry_data(raw.fields), self.stream.value_types, where)
            except RejectedError as exc:
                dead.append((raw, self._letter(raw, exc.reason, exc.error)))
                continue
            usable.append((raw, Delivery(value, raw.entry_id, raw.deliveries)))
        outcomes = await self.handler([delivery for _, delivery in usable]) if usable else []
        done: list[bytes] = []
        for (raw, _), outcome in zip(usable, outcomes, strict=True):
            if outcome is None:
                done.append(raw.entry_id)
                self._errors.pop(raw.entry_id, None)
                continue
            error = f"{type(outcome).__name__}: {outcome}"
            self.stats.failed += 1
            if raw.deliveries >= self.config.max_deliveries:
                self._errors.pop(raw.entry_id, None)
                dead.append((raw, self._letter(raw, DeadLetterReason.PROCESSING_FAILED, error)))
            else:  # left pending: claimed again after claim_idle_ms
                self._errors[raw.entry_id] = error
                log.warning(
                    "%s: entry %s failed (delivery %d): %s", where, raw.entry_id, raw.deliveries, error
                )
        await self.bus.settle(self.stream, self.group, done, dead)
        self.stats.handled += len(done)
        self.stats.dead_letters += len(dead)
        for raw, letter in dead:
            log.error("%s: entry %s dead-lettered (%s): %s", where, raw.entry_id, letter.reason, letter.error)
            DEAD_LETTERS.labels(self.stream.name, letter.reason.value).inc()

    def _letter(self, raw: RawEntry, reason: DeadLetterReason, error: str) -> StreamDeadLetter:
        return StreamDeadLetter(
            source_stream=self.bus.name(self.stream),
            entry_id=raw.entry_id.decode(),
            deliveries=raw.deliveries,
            consumer=f"{self.group}/{self.name}",
            reason=reason,
            error=error,
        )


def event_consumer(
    bus: StreamBus,
    stream: RedisStream,
    group: str,
    handler: Callable[[Delivery[Event]], Awaitable[None]],
    config: ConsumerConfig | None = None,
) -> StreamConsumer[Event]:
    """The common case: full events, handled one at a time."""
    return StreamConsumer(
        bus, stream, group, one_at_a_time(handler), decode_event, config or ConsumerConfig()
    )
