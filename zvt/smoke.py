"""The stack smoke flow: one event through Kafka (transactional), Redis Streams, PostgreSQL and Hatchet.

Each check is a real round trip that decodes what comes back and compares it with what was sent, so a
green table means the four services and the event codec work together on this machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from runtime.clients import kafka_options, redis_client
from runtime.settings import Settings
from schemas import CODEC, AlertTriggered, Event
from schemas.primitives import Severity
from topics import Streams, Topics
from topics.acls import SMOKE_TRANSACTIONS
from topics.admin import ensure_topics

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    detail: str
    seconds: float


class RoundTripMismatchError(AssertionError):
    pass


def smoke_event() -> AlertTriggered:
    return AlertTriggered(source="zvt.smoke", severity=Severity.INFO, message="stack smoke check")


def _same(sent: Event, received: Event, where: str) -> None:
    if sent != received:
        raise RoundTripMismatchError(f"{where}: sent {sent!r}, got back {received!r}")


async def kafka_round_trip(settings: Settings, event: Event) -> str:
    """Publish inside a Kafka transaction, read back with read_committed, decode and compare."""
    topic = Topics.for_event(type(event))
    await ensure_topics(settings, settings.topic_prefix, [topic])
    name = topic.full_name(settings.topic_prefix)
    producer = AIOKafkaProducer(
        **kafka_options(settings),
        transactional_id=f"{settings.topic_prefix}{SMOKE_TRANSACTIONS}{uuid.uuid4()}",
    )
    await producer.start()
    try:
        async with producer.transaction():
            metadata = await producer.send_and_wait(name, CODEC.encode(event), key=topic.key_for(event))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        **kafka_options(settings), isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partition = TopicPartition(name, metadata.partition)
        consumer.assign([partition])
        consumer.seek(partition, metadata.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    _same(event, CODEC.decode(record.value), "kafka")
    return f"{name}[{metadata.partition}]@{metadata.offset} committed and read back"


async def redis_round_trip(settings: Settings, event: Event) -> str:
    """XADD, XREADGROUP in a consumer group, decode and compare, XACK; nothing left pending."""
    stream = Streams.ALERTS
    name = stream.full_name(settings.topic_prefix)
    group = "zvt.smoke"
    client = redis_client(settings)
    try:
        fields: dict[Any, Any] = CODEC.to_stream_fields(event)  # redis-py's field types are invariant
        entry_id = cast(bytes, await client.xadd(name, fields, maxlen=stream.max_length, approximate=True))
        try:
            await client.xgroup_create(name, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        consumer = f"smoke-{uuid.uuid4().hex[:8]}"
        while True:
            # RESP2 reply: [[stream, [(entry_id, fields), ...]]]
            response: Any = await client.xreadgroup(group, consumer, {name: ">"}, count=100, block=5000)
            if not response:
                raise TimeoutError(f"entry {entry_id!r} never reached group {group}")
            entries = cast(StreamEntries, response[0][1])
            await client.xack(name, group, *[entry for entry, _ in entries])
            mine = [fields for entry, fields in entries if entry == entry_id]
            if mine:
                break
        pending = await client.xpending(name, group)
    finally:
        await client.aclose()
    _same(event, CODEC.from_stream_fields(mine[0]), "redis")
    if pending["pending"]:
        raise RoundTripMismatchError(f"redis: {pending['pending']} entries still pending after XACK")
    return f"{name} entry {entry_id.decode()} read by group {group} and acknowledged"


async def postgres_round_trip(settings: Settings, event: Event) -> str:
    """Store the event as JSONB in a temporary table, read it back through asyncpg, decode and compare."""
    connection = await asyncpg.connect(settings.postgres_url(), timeout=30)
    try:
        server_version = await connection.fetchval("SHOW server_version")
        await connection.execute(
            "CREATE TEMPORARY TABLE smoke_events (event_id uuid PRIMARY KEY, body jsonb)"
        )
        await connection.execute(
            "INSERT INTO smoke_events VALUES ($1, $2::jsonb)", event.event_id, CODEC.encode(event).decode()
        )
        body = await connection.fetchval(
            "SELECT body::text FROM smoke_events WHERE event_id = $1", event.event_id
        )
    finally:
        await connection.close()
    _same(event, CODEC.decode(body), "postgres")
    return f"PostgreSQL {server_version}: event stored as JSONB and read back"


SMOKE_WORKER_NAME = f"zvt-smoke-{uuid.uuid4().hex[:8]}"


async def hatchet_round_trip(settings: Settings, event: Event) -> str:
    """Run the two-task `zvt.smoke` workflow; its answer must be an alert caused by our event."""
    from hatchet_workflows.smoke.workflow import SmokeInput, smoke_workflow
    from hatchet_workflows.worker import wait_for_worker_serving

    async with asyncio.timeout(60):
        await wait_for_worker_serving(smoke_workflow, worker_name=SMOKE_WORKER_NAME)
    result = await asyncio.wait_for(
        smoke_workflow.aio_run(SmokeInput(encoded_event=CODEC.encode(event).decode())), timeout=120
    )
    reply = CODEC.decode(result["acknowledge"]["encoded_alert"])
    if reply.causation_id != event.event_id or reply.correlation_id != event.correlation_id:
        raise RoundTripMismatchError(f"hatchet: reply {reply!r} is not caused by {event.event_id}")
    return f"workflow zvt.smoke ran decode_event -> acknowledge; reply {reply.event_id} caused by the event"


CHECKS: dict[str, Callable[[Settings, Event], Awaitable[str]]] = {
    "kafka": kafka_round_trip,
    "redis": redis_round_trip,
    "postgres": postgres_round_trip,
    "hatchet": hatchet_round_trip,
}


async def run_smoke(settings: Settings, services: tuple[str, ...] = tuple(CHECKS)) -> list[CheckResult]:
    event = smoke_event()
    results = []
    for service in services:
        started = time.perf_counter()
        try:
            detail = await CHECKS[service](settings, event)
            ok = True
        except Exception as exc:  # a failed check is reported, and the others still run
            detail, ok = f"{type(exc).__name__}: {exc}", False
        results.append(CheckResult(service, ok, detail, time.perf_counter() - started))
    return results
