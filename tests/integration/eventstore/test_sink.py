"""The sink against real Kafka and PostgreSQL: crash mid-batch, restart, exactly one row per event;
bad records go to dead-letter topics and never into the store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.flows import FlowGenerator
from eventstore.db import connect
from eventstore.projections import load
from eventstore.replay import check, rebuild
from eventstore.sink import FAILPOINT_ENV, Sink
from runtime.clients import kafka_options
from runtime.processes import background_process, free_port
from runtime.producer import SignedProducer
from runtime.settings import Settings
from schemas import CODEC, AlertTriggered, Event
from schemas.signing import keyring
from tests.integration.metrics import Samples, label_values, scrape_until, total
from topics import Topics
from topics.admin import ensure_topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import SINK_CONSUMER

pytestmark = pytest.mark.integration


@pytest.fixture
async def sink_settings(store_settings: Settings) -> Settings:
    """A fresh database, and topics of this test's own (so no other test's events are consumed)."""
    settings = store_settings.model_copy(
        update={"topic_prefix": f"{store_settings.topic_prefix}{uuid.uuid4().hex[:6]}."}
    )
    await ensure_topics(settings, settings.topic_prefix)
    return settings


async def _produce(
    settings: Settings,
    events: Sequence[Event],
    raw: Sequence[tuple[str, bytes]] = (),
    headers: Sequence[list[tuple[str, bytes]]] | None = None,
) -> None:
    """`events` and then the `raw` values, signed unless `headers` (one list per raw value) say otherwise."""
    producer = SignedProducer(**kafka_options(settings), acks="all", linger_ms=20)
    await producer.start()
    try:
        for event in events:
            topic = Topics.for_event(type(event))
            await producer.send(
                topic.full_name(settings.topic_prefix), CODEC.encode(event), key=topic.key_for(event)
            )
        for i, (topic_name, value) in enumerate(raw):
            own = None if headers is None else headers[i]
            await producer.send(topic_name, value, key=b"bad", headers=own)
        await producer.flush()
    finally:
        await producer.stop()


async def _count(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM event_store"))


async def _wait_for_count(connection: asyncpg.Connection, expected: int, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while (found := await _count(connection)) < expected:
        assert time.monotonic() < deadline, f"only {found} of {expected} events stored after {seconds} s"
        await asyncio.sleep(0.2)


async def _end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(**kafka_options(settings))
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic.full_name(settings.topic_prefix), number)
            for topic in Topics.all()
            for number in range(topic.partitions)
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items() if offset}


def _sink_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ZVT_POSTGRES_DSN": settings.postgres_dsn,
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        **extra,
    }


async def test_sink_killed_mid_batch_restarts_with_exactly_one_row_per_event(
    sink_settings: Settings, tmp_path: Path
) -> None:
    settings = sink_settings
    events = FlowGenerator(seed=41, accounts=7).events(12_000)
    await _produce(settings, events)
    env = _sink_env(settings)
    argv = [sys.executable, "-m", "zvt", "sink"]
    crashed = await asyncio.to_thread(
        subprocess.run, argv, env={**env, FAILPOINT_ENV: "kill-after-append:2"}, timeout=180
    )
    assert crashed.returncode == -9  # SIGKILL inside the second batch's transaction
    connection = await connect(settings.postgres_url())
    try:
        after_crash = await _count(connection)
        tracked = await connection.fetchval("SELECT coalesce(sum(next_offset), 0) FROM event_sink_offsets")
        assert 0 < after_crash < len(events)
        assert tracked == after_crash  # the first batch: its rows and its offsets, nothing of the second

        # Output to a file, not a pipe: a pipe nobody drains until the end blocks a chatty process.
        log = tmp_path / "sink.log"
        with background_process(argv, env=env, log_path=log):
            await _wait_for_count(connection, len(events))
            await asyncio.sleep(1)  # anything doubled would arrive now
        summary = log.read_text()
        stored_after_restart = len(events) - after_crash
        assert f"{stored_after_restart} events stored, 0 duplicates" in summary, summary

        ids = await connection.fetch("SELECT event_id FROM event_store")
        assert sorted(row[0] for row in ids) == sorted(e.event_id for e in events)
        offsets = await connection.fetch(
            "SELECT topic, partition, next_offset FROM event_sink_offsets WHERE consumer = $1", SINK_CONSUMER
        )
        assert {(r["topic"], r["partition"]): r["next_offset"] for r in offsets} == await _end_offsets(
            settings
        )
        # the live read models the sink kept equal a replay of what it stored
        assert check(await load(connection), await rebuild(connection, dry_run=True)) == []
    finally:
        await connection.close()


async def test_bad_records_go_to_the_dead_letter_topic_and_never_into_the_store(
    sink_settings: Settings,
) -> None:
    settings = sink_settings
    good = FlowGenerator(seed=42).flow(0)
    requested = Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix)
    invalid = orjson.loads(CODEC.encode(good[0]))
    invalid["quantity"] = "-1"
    alert = AlertTriggered(source="test", severity="info", message="on the wrong topic")
    forged = CODEC.encode(good[0].model_copy(update={"event_id": uuid.uuid4()}))
    tampered = forged.replace(b'"quantity":"', b'"quantity":"9', 1)
    bad = [
        (requested, b"{not json"),
        (requested, orjson.dumps(invalid)),
        (requested, CODEC.encode(alert)),
        (requested, CODEC.encode(good[0].model_copy(update={"metadata": {"note": "nul \x00"}}))),
        (requested, forged),  # no signature
        (requested, tampered),  # the signature of the bytes before they were changed
    ]
    ring = keyring()
    signed = [ring.headers(value) for _, value in bad[:4]]
    await _produce(settings, good, bad, [*signed, [], ring.headers(forged)])
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    connection = await connect(settings.postgres_url())
    try:
        await _wait_for_count(connection, len(good), seconds=60)
        async with asyncio.timeout(30):
            while sink.stats.dead_letters < len(bad):  # noqa: ASYNC110  (a counter, not an event)
                await asyncio.sleep(0.1)
        sink.stopping.set()
        await asyncio.wait_for(task, 30)
        stored = {row[0] for row in await connection.fetch("SELECT event_id FROM event_store")}
        assert stored == {e.event_id for e in good}
        signers = await connection.fetch("SELECT DISTINCT metadata->>'signed_by' FROM event_store")
        assert [row[0] for row in signers] == [ring.active]  # the key each stored event was signed with
        tracked = await connection.fetchval(
            "SELECT sum(next_offset) FROM event_sink_offsets WHERE topic = $1", requested
        )
        assert tracked == 1 + len(bad)  # the offsets moved past the dead letters too
    finally:
        await connection.close()
        sink.stopping.set()
    letters = await _read_dead_letters(settings, len(bad))
    assert [value for value, _ in letters] == [value for _, value in bad]
    assert [letter.reason for _, letter in letters] == [
        DeadLetterReason.UNDECODABLE,
        DeadLetterReason.INVALID,
        DeadLetterReason.UNEXPECTED_TYPE,
        DeadLetterReason.INVALID,
        DeadLetterReason.BAD_SIGNATURE,
        DeadLetterReason.BAD_SIGNATURE,
    ]
    assert "quantity" in letters[1][1].error
    assert letters[4][1].error == "no signature"
    assert "does not match" in letters[5][1].error
    assert all(letter.source_topic == requested for _, letter in letters)


async def _read_dead_letters(settings: Settings, expected: int) -> list[tuple[bytes, DeadLetter]]:
    dead_topic = Topics.ORDERS_REQUESTED.dead_letter
    assert dead_topic is not None
    consumer = AIOKafkaConsumer(
        dead_topic.full_name(settings.topic_prefix),
        **kafka_options(settings),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    letters: list[tuple[bytes, DeadLetter]] = []
    try:
        async with asyncio.timeout(30):
            while len(letters) < expected:
                record = await consumer.getone()
                letters.append((record.value, DeadLetter.from_headers(record.headers)))
    finally:
        await consumer.stop()
    return letters


async def _wait_for_lock_waiter(connection: asyncpg.Connection, seconds: float = 30) -> None:
    """Until a session of this database waits for a lock on the tracking table (the sink's batch)."""
    deadline = time.monotonic() + seconds
    while not await connection.fetchval(
        """SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'event_sink_offsets'::regclass
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
    ):
        assert time.monotonic() < deadline, f"no batch waited for the tracking table within {seconds} s"
        await asyncio.sleep(0.1)


async def test_metrics_count_what_the_sink_stored_and_dead_lettered_and_its_lag_behind_a_locked_store(
    sink_settings: Settings, tmp_path: Path
) -> None:
    """While a transaction holds the tracking table, the sink can store nothing: its lag is everything
    published; once released, the stored counter, the dead letters and the batch time account for it."""
    settings = sink_settings
    events = FlowGenerator(seed=43, accounts=3).events(300)
    requested = Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix)
    alert = AlertTriggered(source="test", severity="info", message="on the wrong topic")
    bad = [(requested, b"{not json"), (requested, b"{not json either"), (requested, CODEC.encode(alert))]
    partitions = {(topic.name, str(n)) for topic in Topics.all() for n in range(topic.partitions)}
    port = free_port()

    def lag(samples: Samples) -> float:
        return total(samples, "zvt_consumer_lag")

    env = _sink_env(settings, ZVT_SINK_METRICS_PORT=str(port))
    with background_process([sys.executable, "-m", "zvt", "sink"], env=env, log_path=tmp_path / "sink.log"):
        await scrape_until(
            port,
            lambda m: label_values(m, "zvt_consumer_lag", "topic", "partition") == partitions,
            60,
            "the lag of every partition of every event topic (the sink assigned them all)",
        )
        blocker = await connect(settings.postgres_url())
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE event_sink_offsets IN EXCLUSIVE MODE")
                await _produce(settings, events, bad)
                blocked = await scrape_until(
                    port, lambda m: lag(m) == len(events) + len(bad), 30, "lag = everything published"
                )
                await _wait_for_lock_waiter(blocker)
                held_since = time.monotonic()
                await asyncio.sleep(1.0)
                held = time.monotonic() - held_since
                assert await _count(blocker) == 0
        finally:
            await blocker.close()
        done = await scrape_until(
            port,
            lambda m: total(m, "zvt_sink_stored_total") >= len(events) and lag(m) == 0,
            30,
            "every event stored and no lag",
        )
    assert total(blocked, "zvt_sink_stored_total") == 0
    assert total(done, "zvt_sink_stored_total") == len(events)
    source = Topics.ORDERS_REQUESTED.name
    by_reason = {
        reason: total(done, "zvt_dead_letters_total", source=source, reason=reason.value)
        for reason in (DeadLetterReason.UNDECODABLE, DeadLetterReason.UNEXPECTED_TYPE)
    }
    assert by_reason == {DeadLetterReason.UNDECODABLE: 2, DeadLetterReason.UNEXPECTED_TYPE: 1}
    assert total(done, "zvt_dead_letters_total") == len(bad)
    assert label_values(done, "zvt_consumer_lag", "topic", "partition") == partitions
    assert total(done, "zvt_sink_batch_seconds_count") >= 1
    assert total(done, "zvt_sink_batch_seconds_sum") >= held  # the batch that waited for the lock


async def test_a_forged_and_a_tampered_event_on_every_topic_are_dead_lettered_and_never_stored(
    sink_settings: Settings,
) -> None:
    """Every topic of the registry, inputs and internal ones alike: the sink reads them all."""
    from hypothesis import find

    from schemas.signing import SIGNATURE_HEADER
    from tests.strategies import EVENT_STRATEGIES

    settings = sink_settings
    ring = keyring()
    good: list[Event] = []
    forged_ids: set[uuid.UUID] = set()
    producer = SignedProducer(**kafka_options(settings), acks="all")
    await producer.start()
    try:
        for n, topic in enumerate(Topics.all()):
            model = topic.value_types[0]
            honest, forged, tampered = (
                find(EVENT_STRATEGIES[model], lambda _: True).model_copy(update={"event_id": uuid.uuid4()})
                for _ in range(3)
            )
            good.append(honest)
            forged_ids |= {forged.event_id, tampered.event_id}
            changed = CODEC.encode(tampered)
            signed_before = changed.replace(str(tampered.event_id).encode(), str(uuid.uuid4()).encode())
            name, key = topic.full_name(settings.topic_prefix), topic.key_for(honest) or f"k{n}".encode()
            await producer.send(name, CODEC.encode(forged), key=key, headers=[])
            await producer.send(
                name, changed, key=key, headers=[(SIGNATURE_HEADER, ring.sign(signed_before))]
            )
            await producer.send(name, CODEC.encode(honest), key=key)
        await producer.flush()
    finally:
        await producer.stop()
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    connection = await connect(settings.postgres_url())
    try:
        await _wait_for_count(connection, len(good), seconds=60)
        async with asyncio.timeout(30):
            while sink.stats.dead_letters < 2 * len(good):  # noqa: ASYNC110  (a counter, not an event)
                await asyncio.sleep(0.1)
        sink.stopping.set()
        await asyncio.wait_for(task, 30)
        stored = {row[0] for row in await connection.fetch("SELECT event_id FROM event_store")}
    finally:
        await connection.close()
        sink.stopping.set()
    assert stored == {event.event_id for event in good}
    assert not stored & forged_ids
    consumer = AIOKafkaConsumer(
        *(t.dead_letter.full_name(settings.topic_prefix) for t in Topics.all() if t.dead_letter is not None),
        **kafka_options(settings),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        async with asyncio.timeout(30):
            while len(letters) < 2 * len(good):
                letters.append(DeadLetter.from_headers((await consumer.getone()).headers))
    finally:
        await consumer.stop()
    assert {letter.reason for letter in letters} == {DeadLetterReason.BAD_SIGNATURE}
    by_topic: dict[str, int] = {}
    for letter in letters:
        by_topic[letter.source_topic] = by_topic.get(letter.source_topic, 0) + 1
    assert by_topic == {t.full_name(settings.topic_prefix): 2 for t in Topics.all()}
