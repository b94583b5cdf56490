"""The sink: every event topic into the event store, effectively once.

Per batch from Kafka: verify, decode and validate each record (`triage`); send the ones that fail to the
source topic's dead-letter topic and wait for the broker's ack; then, in ONE PostgreSQL transaction,
append the events, update the read models and trading_events, and store each partition's next offset in
the tracking table. Kafka's committed offsets are written afterwards only for lag monitoring; on
partition assignment the sink seeks to the tracking table's offsets. So a crash anywhere either loses
the whole uncommitted batch (re-read on restart) or nothing; no row is lost or doubled. A dead letter
produced just before a crash is produced again on restart: dead letters are at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from rich.console import Console

from eventstore import projections, trading_events
from eventstore.db import connect
from eventstore.store import NewEvent, UnstorableEventError, append
from eventstore.tracking import Partition, save_offsets, stored_offsets
from runtime.clients import kafka_options
from runtime.lag import KafkaLag, sample_every
from runtime.metrics import DEAD_LETTERS, SINK_BATCH_SECONDS, STORED
from runtime.settings import Settings
from schemas import CODEC, EventDecodeError
from schemas.signing import SignatureError, keyring, signature_in
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import SINK_CONSUMER, KafkaTopic

log = logging.getLogger(__name__)

# Test-only fault injection, e.g. `kill-after-append:3`: SIGKILL itself inside the 3rd batch's transaction.
FAILPOINT_ENV = "ZVT_SINK_FAILPOINT"


@dataclass(frozen=True, slots=True)
class Received:
    """One Kafka record, as the sink needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    signature: bytes | None = None  # schemas.signing's header


@dataclass
class Triage:
    events: list[NewEvent] = field(default_factory=list)
    sources: list[Received] = field(default_factory=list)  # the record of each event
    dead: list[tuple[Received, DeadLetter]] = field(default_factory=list)
    next_offsets: dict[Partition, int] = field(default_factory=dict)


def triage(records: Iterable[Received], topics: dict[str, KafkaTopic], consumer: str) -> Triage:
    """Which records become events and which are dead letters (and why): pure but for the keyring."""
    result = Triage()
    ring = keyring()
    for record in records:
        partition = (record.topic, record.partition)
        result.next_offsets[partition] = max(result.next_offsets.get(partition, 0), record.offset + 1)
        if record.value is None:  # a compaction tombstone: no event
            continue
        try:
            signed_by = ring.verify(record.value, record.signature)
            event = CODEC.decode(record.value)
            if type(event) not in topics[record.topic].value_types:
                raise TypeError(f"{event.event_type} does not belong on {record.topic}")
            metadata = {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "signed_by": signed_by,
            }
            result.events.append(NewEvent.of(event, data=record.value, metadata=metadata))
            result.sources.append(record)
        except (SignatureError, EventDecodeError, TypeError, UnstorableEventError) as error:
            result.dead.append((record, _dead_letter(record, error, consumer)))
    return result


def _dead_letter(record: Received, error: Exception, consumer: str) -> DeadLetter:
    if isinstance(error, SignatureError):
        reason = DeadLetterReason.BAD_SIGNATURE
    elif isinstance(error, EventDecodeError):
        reason = DeadLetterReason.INVALID if error.event_type else DeadLetterReason.UNDECODABLE
    elif isinstance(error, TypeError):
        reason = DeadLetterReason.UNEXPECTED_TYPE
    else:
        reason = DeadLetterReason.INVALID
    return DeadLetter.now(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        consumer=consumer,
        reason=reason,
        error=str(error)[:2000],
    )


@dataclass
class SinkStats:
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    stale: int = 0  # records another sink instance had already stored (skipped by offset)

    def line(self) -> str:
        return (
            f"sink: {self.batches} batches, {self.stored} events stored, {self.duplicates} duplicates, "
            f"{self.dead_letters} dead letters, {self.stale} stale records"
        )


async def write_batch(
    connection: asyncpg.Connection,
    batch: Triage,
    consumer: str,
    stats: SinkStats,
    failpoint: int | None = None,
) -> None:
    """One transaction: events, read models, trading_events and the tracking row."""
    started = time.perf_counter()
    async with connection.transaction():
        stored = await stored_offsets(connection, consumer, batch.next_offsets, lock=True)
        # Records below the stored offset were written by another instance (a rebalance race): skip them.
        fresh = [
            event
            for event, source in zip(batch.events, batch.sources, strict=True)
            if source.offset >= stored.get((source.topic, source.partition), 0)
        ]
        stats.stale += len(batch.events) - len(fresh)
        result = await append(connection, fresh)
        await projections.project(connection, result.stored)
        await trading_events.insert(connection, result.stored)
        stats.batches += 1
        if failpoint is not None and stats.batches >= failpoint:
            os.kill(os.getpid(), signal.SIGKILL)
        await save_offsets(
            connection,
            consumer,
            {p: max(offset, stored.get(p, 0)) for p, offset in batch.next_offsets.items()},
        )
    SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
    stats.stored += len(result.stored)
    STORED.inc(len(result.stored))
    stats.duplicates += result.duplicates


def _failpoint() -> int | None:
    value = os.environ.get(FAILPOINT_ENV, "")
    if not value:
        return None
    name, _, batch = value.partition(":")
    if name != "kill-after-append":
        raise ValueError(f"unknown {FAILPOINT_ENV} {value!r}")
    return int(batch)


class _SeekToTracked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions at the tracking table's offsets. aiokafka calls it from its
    coordinator while the sink may be inside a batch's transaction on the same connection, which asyncpg
    refuses ("another operation is in progress"): `in_use` serialises the two."""

    def __init__(
        self, consumer: AIOKafkaConsumer, connection: asyncpg.Connection, name: str, in_use: asyncio.Lock
    ) -> None:
        self.consumer, self.connection, self.name, self.in_use = consumer, connection, name, in_use

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        async with self.in_use:
            offsets = await stored_offsets(
                self.connection, self.name, [(tp.topic, tp.partition) for tp in assigned]
            )
        untracked = []
        for tp in assigned:
            offset = offsets.get((tp.topic, tp.partition))
            if offset is None:
                untracked.append(tp)
            else:
                self.consumer.seek(tp, offset)
        # One seek for all: each call waits for a fetcher cycle (~0.5 s), and no heartbeat is sent until this
        # listener returns; seeking the ~70 partitions one by one outlasted the session and lost the group.
        if untracked:
            await self.consumer.seek_to_beginning(*untracked)


@dataclass
class Sink:
    settings: Settings
    consumer_name: str = SINK_CONSUMER
    max_records: int = 5000
    stats: SinkStats = field(default_factory=SinkStats)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def topics(self) -> dict[str, KafkaTopic]:
        return {topic.full_name(self.settings.topic_prefix): topic for topic in Topics.all()}

    async def run(self) -> None:
        """Consume until `stopping` is set; the batch in flight finishes first."""
        topics = self.topics()
        failpoint = _failpoint()
        connection = await connect(self.settings.postgres_url())
        consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            group_id=f"{self.settings.topic_prefix}{self.consumer_name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.max_records,
        )
        producer = AIOKafkaProducer(
            **kafka_options(self.settings), acks="all", enable_idempotence=True
        )
        in_use = asyncio.Lock()
        listener = _SeekToTracked(consumer, connection, self.consumer_name, in_use)
        consumer.subscribe(list(topics), listener=listener)
        lag = KafkaLag(consumer, self.settings.topic_prefix)
        await producer.start()
        await consumer.start()
        sampler = asyncio.create_task(sample_every(lag.sample, self.stopping))
        try:
            while not self.stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=300, max_records=self.max_records)
                records = [
                    Received(r.topic, r.partition, r.offset, r.key, r.value, signature_in(r.headers))
                    for rs in fetched.values()
                    for r in rs
                ]
                if not records:
                    await lag.caught_up()
                    continue
                batch = triage(records, topics, self.consumer_name)
                await self._dead_letters(producer, batch, topics)
                async with in_use:
                    await write_batch(connection, batch, self.consumer_name, self.stats, failpoint)
                stored = {TopicPartition(t, p): offset for (t, p), offset in batch.next_offsets.items()}
                lag.finished(stored)
                try:
                    await consumer.commit(stored)  # for lag monitoring only: the tracking table decides
                except CommitFailedError as exc:  # a rebalance took the partitions meanwhile
                    log.warning("Kafka offsets not committed (%s); the tracking table has them", exc)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await consumer.stop()
            await producer.stop()
            await connection.close()

    async def _dead_letters(
        self, producer: AIOKafkaProducer, batch: Triage, topics: dict[str, KafkaTopic]
    ) -> None:
        sent: list[Any] = []
        for record, letter in batch.dead:
            dead_topic = topics[record.topic].dead_letter
            assert dead_topic is not None, "every event topic has a dead-letter topic"
            sent.append(
                await producer.send(
                    dead_topic.full_name(self.settings.topic_prefix),
                    value=record.value,
                    key=record.key,
                    headers=letter.headers(),
                )
            )
        await asyncio.gather(*sent)  # every dead letter acknowledged before the offsets move past it
        self.stats.dead_letters += len(sent)
        for record, letter in batch.dead:
            DEAD_LETTERS.labels(topics[record.topic].name, letter.reason.value).inc()


async def run_sink(settings: Settings, console: Console | None = None) -> SinkStats:
    """Run until SIGTERM or SIGINT, then print one summary line."""
    sink = Sink(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, sink.stopping.set)
    await sink.run()
    (console or Console()).print(sink.stats.line())
    return sink.stats
