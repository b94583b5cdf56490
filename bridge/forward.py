"""The bridge process: registered Kafka topics into Redis streams, and Redis streams into Kafka.

Kafka -> Redis: per batch, records whose envelope is bad go to the source topic's dead-letter topic (acked
by the broker), the rest are published into their stream (idempotent on `event_id`, see `bus`), and only
then are the Kafka offsets committed. A crash before the commit re-reads the batch and the publish skips
every id already in the stream: nothing is lost, nothing doubled.

Redis -> Kafka: a consumer group per stream; each batch is produced with the original bytes (so the
original `event_id`), the broker's acks (acks=all) awaited, and only then are the entries acknowledged.
A crash between the broker's ack and XACK sends those entries again: the Kafka side is at least once and
its consumers drop repeats by `event_id`, as every consumer of the platform does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import CommitFailedError

from bridge.bus import StreamBus, redis_retrying
from bridge.consumer import ConsumerConfig, Delivery, StreamConsumer
from bridge.entries import Envelope, RejectedError, checked_envelope, envelope
from bridge.routes import InboundRoute, OutboundRoute, Routes
from runtime.clients import kafka_options, redis_client
from runtime.lag import KafkaLag, sample_every
from runtime.metrics import DEAD_LETTERS, FORWARDED, STREAM_LAG
from runtime.settings import Settings
from schemas import Event
from schemas.signing import SIGNATURE_HEADER, keyring, signature_in
from topics.dead_letter import DeadLetter
from topics.registry import BRIDGE_GROUP, KafkaTopic, RedisStream

log = logging.getLogger(__name__)

# Test-only fault injection: `kill-after-publish:N` SIGKILLs the bridge after its N-th Kafka batch is in
# Redis but before the batch's offsets are committed.
FAILPOINT_ENV = "ZVT_BRIDGE_FAILPOINT"


def _failpoint() -> int | None:
    name, _, batch = os.environ.get(FAILPOINT_ENV, "").partition(":")
    if not name:
        return None
    if name != "kill-after-publish":
        raise ValueError(f"unknown {FAILPOINT_ENV} {name!r}")
    return int(batch)


@dataclass
class BridgeStats:
    into_redis: int = 0
    duplicates: int = 0  # records whose event id was already in the stream (a re-read after a crash)
    into_kafka: int = 0
    kafka_dead_letters: int = 0
    redis_dead_letters: int = 0

    def line(self) -> str:
        return (
            f"bridge: {self.into_redis} events into Redis ({self.duplicates} duplicates skipped), "
            f"{self.into_kafka} into Kafka, dead letters: {self.kafka_dead_letters} Kafka, "
            f"{self.redis_dead_letters} Redis"
        )


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True, linger_ms=5
    )


@dataclass
class KafkaToRedis:
    """One Kafka consumer over every inbound route's topic."""

    settings: Settings
    bus: StreamBus
    producer: AIOKafkaProducer  # for dead letters
    routes: Sequence[InboundRoute]
    stats: BridgeStats
    stopping: asyncio.Event
    max_records: int = 5000
    batches: int = 0

    async def run(self) -> None:
        failpoint = _failpoint()
        by_topic = Routes(tuple(self.routes), ()).by_topic(self.settings.topic_prefix)
        consumer = AIOKafkaConsumer(
            *by_topic,
            **kafka_options(self.settings),
            group_id=f"{self.settings.topic_prefix}{BRIDGE_GROUP}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.max_records,
        )
        lag = KafkaLag(consumer, self.settings.topic_prefix)
        await consumer.start()
        sampler = asyncio.create_task(sample_every(lag.sample, self.stopping))
        try:
            while not self.stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                records = [record for batch in fetched.values() for record in batch]
                if not records:
                    await lag.caught_up()
                    continue
                await self.forward(records, by_topic)
                self.batches += 1
                if failpoint is not None and self.batches >= failpoint:
                    os.kill(os.getpid(), signal.SIGKILL)
                forwarded = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
                lag.finished(forwarded)
                try:
                    await consumer.commit(forwarded)
                except CommitFailedError as exc:  # a rebalance took the partitions: their next owner
                    log.warning("offsets not committed (%s): the batch is re-read, and skipped in Redis", exc)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await consumer.stop()

    async def forward(self, records: Sequence[ConsumerRecord], by_topic: dict[str, InboundRoute]) -> None:
        """Dead letters acked and events in Redis: after this the batch's offsets may be committed."""
        good: dict[RedisStream, list[tuple[Envelope, KafkaTopic]]] = defaultdict(list)
        sent: list[Any] = []
        for record in records:
            route = by_topic[record.topic]
            try:
                checked = envelope(
                    record.value, route.stream.value_types, record.topic, signature_in(record.headers)
                )
                good[route.stream].append((checked, route.topic))
            except RejectedError as exc:
                sent.append(await self._dead_letter(record, route.topic, exc))
        for stream, items in good.items():
            async for attempt in redis_retrying():
                with attempt:
                    added = await self.bus.publish_envelopes(stream, [item for item, _ in items])
            fresh = Counter(topic.name for (_, topic), entry_id in zip(items, added, strict=True) if entry_id)
            self.stats.into_redis += fresh.total()
            self.stats.duplicates += len(added) - fresh.total()
            for topic_name, count in fresh.items():
                FORWARDED.labels("kafka_to_redis", topic_name, stream.name).inc(count)
        await asyncio.gather(*sent)
        self.stats.kafka_dead_letters += len(sent)

    async def _dead_letter(self, record: ConsumerRecord, topic: KafkaTopic, exc: RejectedError) -> Any:
        dead = topic.dead_letter
        assert dead is not None, "every event topic has a dead-letter topic"
        letter = DeadLetter.now(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            consumer=BRIDGE_GROUP,
            reason=exc.reason,
            error=exc.error[:4000],
        )
        log.warning("%s[%s]@%s dead-lettered: %s", record.topic, record.partition, record.offset, exc.error)
        DEAD_LETTERS.labels(topic.name, exc.reason.value).inc()
        return await self.producer.send(
            dead.full_name(self.settings.topic_prefix),
            value=record.value or b"",
            key=record.key,
            headers=letter.headers(),
        )


def outbound_decoder(topic: KafkaTopic) -> Any:
    """Envelope check plus the Kafka key, so an entry without its key fields is dead-lettered as invalid."""

    def decode(data: bytes, allowed: tuple[type[Event], ...], where: str) -> tuple[Envelope, bytes]:
        # `data` is verified (bridge.entries.entry_data); signed again, for Kafka's header.
        checked = checked_envelope(data, allowed, where, keyring().sign(data))
        return checked, checked.key_for(topic)

    return decode


@dataclass
class RedisToKafka:
    """One consumer-group worker per outbound route, producing each batch and awaiting the broker's acks."""

    settings: Settings
    producer: AIOKafkaProducer
    route: OutboundRoute
    stats: BridgeStats

    async def handle(
        self, deliveries: Sequence[Delivery[tuple[Envelope, bytes]]]
    ) -> list[BaseException | None]:
        topic = self.route.topic.full_name(self.settings.topic_prefix)
        futures = [
            await self.producer.send(
                topic,
                value=item.value[0].data,
                key=item.value[1],
                headers=[(SIGNATURE_HEADER, item.value[0].signature)],
            )
            for item in deliveries
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        outcomes = [result if isinstance(result, BaseException) else None for result in results]
        self.stats.into_kafka += outcomes.count(None)
        FORWARDED.labels("redis_to_kafka", self.route.topic.name, self.route.stream.name).inc(
            outcomes.count(None)
        )
        return outcomes

    def consumer(
        self, bus: StreamBus, config: ConsumerConfig, stopping: asyncio.Event
    ) -> StreamConsumer[Any]:
        return StreamConsumer(
            bus,
            self.route.stream,
            BRIDGE_GROUP,
            self.handle,
            outbound_decoder(self.route.topic),
            config,
            stopping=stopping,
        )


@dataclass
class Bridge:
    """Every chosen route in one process; `stopping` ends them after the batch in flight."""

    settings: Settings
    routes: Routes = field(default_factory=Routes.of)
    config: ConsumerConfig = field(default_factory=ConsumerConfig)
    stats: BridgeStats = field(default_factory=BridgeStats)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        client = redis_client(self.settings)
        bus = StreamBus(client, self.settings.topic_prefix)
        producer = _producer(self.settings)
        await producer.start()
        consumers = [
            RedisToKafka(self.settings, producer, route, self.stats).consumer(bus, self.config, self.stopping)
            for route in self.routes.outbound
        ]
        workers = [consumer.run() for consumer in consumers]
        if self.routes.outbound:
            workers.append(sample_every(functools.partial(self.sample_backlogs, bus), self.stopping))
        if self.routes.inbound:
            inbound = KafkaToRedis(
                self.settings,
                bus,
                producer,
                self.routes.inbound,
                self.stats,
                self.stopping,
                self.config.batch,
            )
            workers.append(inbound.run())
        try:
            async with asyncio.TaskGroup() as group:  # one route failing stops the others
                for work in workers:
                    group.create_task(work)
        finally:
            self.stats.redis_dead_letters = sum(consumer.stats.dead_letters for consumer in consumers)
            await producer.stop()
            await client.aclose()

    async def sample_backlogs(self, bus: StreamBus) -> None:
        """`zvt_stream_lag` of every outbound stream: what the Redis -> Kafka side has yet to move."""
        for route in self.routes.outbound:
            backlog = await bus.backlog(route.stream, BRIDGE_GROUP)
            if backlog is not None:
                STREAM_LAG.labels(route.stream.name).set(backlog)


async def run_bridge(
    settings: Settings, routes: Routes, config: ConsumerConfig | None = None, report_every: float = 10.0
) -> BridgeStats:
    """Run until SIGTERM or SIGINT, logging a progress line every `report_every` seconds."""
    bridge = Bridge(settings, routes, config or ConsumerConfig())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, bridge.stopping.set)

    async def report() -> None:
        while not bridge.stopping.is_set():
            await asyncio.sleep(report_every)
            log.info(bridge.stats.line())

    reporter = asyncio.create_task(report())
    try:
        await bridge.run()
    finally:
        reporter.cancel()
    log.info(bridge.stats.line())
    return bridge.stats
