"""The bridge process against real Kafka and Redis: both directions keep event ids, bad input lands in the
dead letters of its side, and a bridge SIGKILLed between a Redis publish and its Kafka commit doubles nothing
in Redis after a restart."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from bench.flows import FlowGenerator
from bridge.bus import StreamBus
from bridge.dead_letter import StreamDeadLetter
from bridge.forward import FAILPOINT_ENV
from bridge.routes import Routes
from runtime.clients import kafka_options
from runtime.processes import background_process, free_port
from runtime.producer import SignedProducer, publish_events
from runtime.settings import Settings
from schemas import CODEC, AlertTriggered, Event, OrderExecuted, OrderRejected, OrderRequested
from schemas.signing import SIGNATURE_HEADER, keyring, signature_in
from tests.integration.metrics import Samples, label_values, scrape_metrics, scrape_until, total
from topics import Streams, Topics
from topics.admin import ensure_topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import BRIDGE_GROUP, KafkaTopic

pytestmark = pytest.mark.integration

BATCH = 500


def _bridge_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "ZVT_REDIS_URL": settings.redis_url,
        **extra,
    }


async def _produce_raw(
    settings: Settings,
    topic: KafkaTopic,
    values: Sequence[bytes],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Send `values` as they are: signed (a holder of the key sending bad bytes), or with `headers`."""
    producer = SignedProducer(**kafka_options(settings), acks="all")
    await producer.start()
    try:
        for value in values:
            name = topic.full_name(settings.topic_prefix)
            await producer.send_and_wait(name, value, key=b"bad", headers=headers)
    finally:
        await producer.stop()


def _signed_entry(data: bytes) -> dict[Any, Any]:  # redis-py's field types are invariant
    return {b"data": data, b"signature": keyring().sign(data)}


def _forgeries(event: Event) -> tuple[bytes, bytes, bytes]:
    """An event's bytes, the same bytes tampered with, and the original's signature."""
    data = CODEC.encode(event)
    tampered = data.replace(b'"account_id":"', b'"account_id":"x', 1)
    assert tampered != data
    return data, tampered, keyring().sign(data)


async def _read_topic(settings: Settings, topic: KafkaTopic, expected: int, seconds: float) -> list[Any]:
    """Every record of `topic` once at least `expected` have arrived (then a second more for stragglers)."""
    consumer = AIOKafkaConsumer(
        topic.full_name(settings.topic_prefix),
        **kafka_options(settings),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + seconds
        settle_until = None
        while settle_until is None or time.monotonic() < settle_until:
            assert time.monotonic() < deadline, f"{len(records)} of {expected} records on {topic.name}"
            batches = await consumer.getmany(timeout_ms=200)
            records += [record for batch in batches.values() for record in batch]
            if settle_until is None and len(records) >= expected:
                settle_until = time.monotonic() + 1
    finally:
        await consumer.stop()
    return records


async def _stream_ids(bus: StreamBus) -> Counter[str]:
    entries: Any = await bus.client.xrange(bus.name(Streams.ORDER_EXECUTIONS))
    return Counter(fields[b"event_id"].decode() for _, fields in entries)


async def test_round_trip_keeps_event_ids_and_a_killed_bridge_doubles_nothing(
    test_settings: Settings, bus: StreamBus, tmp_path: Path
) -> None:
    settings = test_settings
    await ensure_topics(settings, settings.topic_prefix)
    flows = FlowGenerator(seed=13, accounts=9).events(40_000)
    executions = [e for e in flows if isinstance(e, OrderExecuted | OrderRejected)][:5000]
    requests = [e for e in flows if isinstance(e, OrderRequested)][:3000]
    alert = AlertTriggered(source="test", severity="info", message="on the wrong topic")
    await publish_events(settings, executions)
    await _produce_raw(settings, Topics.ORDERS_EXECUTED, [b"{not json", CODEC.encode(alert)])
    # forged (no signature) and tampered (another payload's signature): neither reaches Redis
    original, tampered, signature = _forgeries(executions[0].model_copy(update={"event_id": uuid.uuid4()}))
    await _produce_raw(settings, Topics.ORDERS_EXECUTED, [original], headers=[])
    await _produce_raw(settings, Topics.ORDERS_EXECUTED, [tampered], headers=[(SIGNATURE_HEADER, signature)])
    await bus.publish_many(Streams.ORDER_REQUESTS, requests)
    await bus.client.xadd(bus.name(Streams.ORDER_REQUESTS), _signed_entry(b"[]"))
    forged_request, tampered_request, request_signature = _forgeries(
        requests[0].model_copy(update={"event_id": uuid.uuid4()})
    )
    await bus.client.xadd(bus.name(Streams.ORDER_REQUESTS), {b"data": forged_request})
    await bus.client.xadd(
        bus.name(Streams.ORDER_REQUESTS), {b"data": tampered_request, b"signature": request_signature}
    )

    env = _bridge_env(settings)
    argv = [sys.executable, "-m", "zvt", "bridge", "--batch", str(BATCH)]
    crashed = await asyncio.to_thread(
        subprocess.run,
        argv,
        env={**env, FAILPOINT_ENV: "kill-after-publish:3"},
        timeout=120,
        capture_output=True,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    after_crash = sum((await _stream_ids(bus)).values())
    assert 0 < after_crash < len(executions)

    metrics_port = free_port()
    with background_process(
        # Output to a file, not a pipe: a pipe nobody drains until the end blocks a chatty process.
        argv,
        env={**env, "ZVT_BRIDGE_METRICS_PORT": str(metrics_port)},
        log_path=tmp_path / "bridge.log",
    ):
        async with asyncio.timeout(120):
            while sum((await _stream_ids(bus)).values()) < len(executions):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        into_kafka = await _read_topic(settings, Topics.ORDERS_REQUESTED, len(requests), 120)
        letters = await _read_topic(settings, Topics.ORDERS_EXECUTED.dead_letter, 4, 60)  # type: ignore[arg-type]
        # The bad entry is settled (dead letter + ack) after its batch went to Kafka, or reclaimed from the
        # killed bridge later still: it may trail the requests.
        dead_letters = Streams.ORDER_REQUESTS.dead_letter_name(bus.prefix)
        async with asyncio.timeout(60):
            while await bus.client.xlen(dead_letters) < 3:  # noqa: ASYNC110  (a stream, not an event)
                await asyncio.sleep(0.1)
        metrics = await scrape_metrics(metrics_port)
    # the restarted bridge's metrics count what it moved: the executions the killed one had not
    forwarded = total(
        metrics,
        "zvt_bridge_forwarded_total",
        direction="kafka_to_redis",
        stream=Streams.ORDER_EXECUTIONS.name,
    )
    assert forwarded == len(executions) - after_crash
    summary = (tmp_path / "bridge.log").read_text()

    # Kafka -> Redis: every event once, with its id, though the killed batch was read twice
    assert await _stream_ids(bus) == Counter(str(e.event_id) for e in executions)
    skipped = re.search(r"\((\d+) duplicates skipped\)", summary)
    assert skipped is not None, summary
    assert int(skipped.group(1)) > 0  # the batch published before the kill came again and was dropped
    # Redis -> Kafka: every event with its id (a copy is possible only for a batch acked by Kafka just
    # before the kill, which Kafka consumers drop by event id)
    decoded = [(record.key, CODEC.decode(record.value)) for record in into_kafka]
    ids = Counter(event.event_id for _, event in decoded)
    assert set(ids) == {e.event_id for e in requests}
    assert sum(ids.values()) - len(ids) <= BATCH
    assert all(key == Topics.ORDERS_REQUESTED.key_for(event) for key, event in decoded)

    # bad input on each side, in that side's dead letters, with the reason
    # (dead letters are at least once: one sent just before the kill is sent again; count by source offset)
    by_offset = {
        (dl.partition, dl.offset): dl for dl in (DeadLetter.from_headers(r.headers) for r in letters)
    }
    reasons = [letter.reason for _, letter in sorted(by_offset.items())]
    assert reasons == [
        DeadLetterReason.UNDECODABLE,
        DeadLetterReason.UNEXPECTED_TYPE,
        DeadLetterReason.BAD_SIGNATURE,
        DeadLetterReason.BAD_SIGNATURE,
    ]
    dead: Any = await bus.client.xrange(dead_letters)
    assert sorted(StreamDeadLetter.from_entry(fields).reason for _, fields in dead) == sorted([
        DeadLetterReason.UNDECODABLE, DeadLetterReason.BAD_SIGNATURE, DeadLetterReason.BAD_SIGNATURE
    ])  # fmt: skip
    # every event that reached Kafka carries a signature that verifies
    assert all(keyring().verify(r.value, signature_in(r.headers)) for r in into_kafka)


async def test_metrics_count_each_route_its_dead_letters_and_its_lag(
    test_settings: Settings, bus: StreamBus, tmp_path: Path
) -> None:
    """Per route what the bridge forwarded, per side what it dead-lettered; Kafka lag per partition and
    the backlog of each outbound stream's group, here the entries a dead bridge left pending."""
    settings = test_settings
    await ensure_topics(settings, settings.topic_prefix)
    flows = FlowGenerator(seed=17, accounts=4).events(3000)
    executed = [e for e in flows if isinstance(e, OrderExecuted)][:200]
    rejected = [e for e in flows if isinstance(e, OrderRejected)]
    requests = [e for e in flows if isinstance(e, OrderRequested)][:100]
    alert = AlertTriggered(source="test", severity="info", message="on the wrong topic")
    await publish_events(settings, [*executed, *rejected])
    await _produce_raw(settings, Topics.ORDERS_EXECUTED, [b"{not json", CODEC.encode(alert)])
    await bus.ensure_group(Streams.ORDER_REQUESTS, BRIDGE_GROUP)
    await bus.publish_many(Streams.ORDER_REQUESTS, requests)
    await bus.client.xadd(bus.name(Streams.ORDER_REQUESTS), _signed_entry(b"[]"))
    # Three entries delivered to a bridge that died before acknowledging them: pending until claimed (30 s).
    stuck = await bus.read_new(Streams.ORDER_REQUESTS, BRIDGE_GROUP, "a-bridge-that-died", 3, 100)
    partitions = {
        (route.topic.name, str(n)) for route in Routes.of().inbound for n in range(route.topic.partitions)
    }

    def forwarded(samples: Samples, direction: str, topic: KafkaTopic) -> float:
        return total(samples, "zvt_bridge_forwarded_total", direction=direction, topic=topic.name)

    def dead(samples: Samples, source: str, reason: DeadLetterReason) -> float:
        return total(samples, "zvt_dead_letters_total", source=source, reason=reason.value)

    port = free_port()
    env = _bridge_env(settings, ZVT_BRIDGE_METRICS_PORT=str(port))
    argv = [sys.executable, "-m", "zvt", "bridge", "--loglevel", "warning"]
    with background_process(argv, env=env, log_path=tmp_path / "bridge.log"):
        metrics = await scrape_until(
            port,
            lambda m: (
                forwarded(m, "kafka_to_redis", Topics.ORDERS_EXECUTED) == len(executed)
                and forwarded(m, "redis_to_kafka", Topics.ORDERS_REQUESTED) == len(requests) - len(stuck)
                and label_values(m, "zvt_consumer_lag", "topic", "partition") == partitions
                and total(m, "zvt_consumer_lag") == 0
                and total(m, "zvt_stream_lag", stream=Streams.ORDER_REQUESTS.name) == len(stuck)
            ),
            25,  # within the 30 s after which the bridge claims the stuck entries
            "everything forwarded but the stuck entries, no Kafka lag, the stuck entries as stream lag",
        )
    executions = Streams.ORDER_EXECUTIONS.name
    assert total(metrics, "zvt_bridge_forwarded_total", direction="kafka_to_redis", stream=executions) == len(
        executed
    ) + len(rejected)
    assert forwarded(metrics, "kafka_to_redis", Topics.ORDERS_REJECTED) == len(rejected) > 0
    assert total(metrics, "zvt_bridge_forwarded_total") == len(executed) + len(rejected) + len(requests) - 3
    assert dead(metrics, Topics.ORDERS_EXECUTED.name, DeadLetterReason.UNDECODABLE) == 1
    assert dead(metrics, Topics.ORDERS_EXECUTED.name, DeadLetterReason.UNEXPECTED_TYPE) == 1
    assert dead(metrics, Streams.ORDER_REQUESTS.name, DeadLetterReason.UNDECODABLE) == 1
    assert total(metrics, "zvt_dead_letters_total") == 3
    outbound = {(route.stream.name,) for route in Routes.of().outbound}
    assert label_values(metrics, "zvt_stream_lag", "stream") == outbound
    assert total(metrics, "zvt_stream_lag") == len(stuck) == 3
