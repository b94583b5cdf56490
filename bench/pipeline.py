"""Agent pipeline throughput, latency and memory beside raw aiokafka consume->produce loops.

`python -m bench.pipeline [--json] [--rss-ticks N]`; with `ZVT_TLS=1` every client and the worker talk to
the stack's TLS listener (SASL_SSL, docs/security.md), which `kafka_security_protocol` in the figures records.
In one run per processing guarantee, on fresh topics: ticks/s through the market data agent; orders/s end to
end (order.requested -> position.updated) in a burst, and latency p50/p99 at a fixed offered rate; the
worker's RSS before and after the ticks (and, with --rss-ticks, after streaming many more); the worker's
CPU time per tick and per order (`worker_cpu_us_per_tick`, `_per_order`: on shared cores, steadier than
the rates, which also count the time the worker waits for a core); what signing costs (one sign and one
verify, timed here; the worker's signatures per tick and per order, from its metrics, and their share of
its CPU: every event the bench sends is signed, as the platform's publishers sign); and two
baselines over the same number of 400-byte messages, measured before the worker starts: a plain aiokafka
loop that consumes and produces one record at a time, and one that consumes with getmany and produces one
batch per partition per consumed batch, committing once per batch. Neither decodes anything.

The bench talks to the worker only as a process (`python -m zvt worker`) and through Kafka topics. With
--json, stdout carries one JSON object (the first guarantee's figures at top level, and `by_guarantee`
when several ran); the table and progress go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from reports.session import percentile
from runtime.clients import kafka_options
from runtime.processes import background_process, free_port
from runtime.settings import Settings, load_settings
from schemas import CODEC, OrderRequested, QuoteTick, TradeTick
from schemas.signing import keyring
from topics import AGENTS_GROUP, Topics
from topics.admin import delete_prefixed_topics, ensure_topics
from topics.registry import KafkaTopic

CONFIG = """
[default_limits]
max_order_notional = "100000000"
max_position_notional = "100000000000"
max_gross_exposure = "100000000000"
max_open_orders = 1000000
max_orders_per_window = 1000000
"""
ACCOUNTS = 24
PAYLOAD = b"x" * 400  # the baselines' messages
BATCH_BYTES = 512 * 1024  # producer batches: well under the broker's 1 MiB message.max.bytes
CHUNK = 10_000  # records built and sent at a time
RSS_SAMPLE_AFTER = 100_000  # --rss-ticks: RSS is also sampled once this many of them were processed
RSS_WINDOW = 250_000  # --rss-ticks: at most this many ticks sent ahead of what the worker has processed
STALL_SECONDS = 180.0  # --rss-ticks: give up when the worker's group commits nothing for this long

# The baselines' topics: registry topics of the bench prefix that the worker neither reads nor writes.
RAW_PER_RECORD = (Topics.ALERTS, Topics.ALERTS.dead_letter)  # 1 partition -> 1 (one key: one partition)
RAW_BATCH = (Topics.REBALANCES, Topics.RISK_BREACHES)  # 3 partitions -> 3, source partition p -> target p


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of `pid` and its descendants (a worker that forks counts whole); NaN once the
    process is gone."""
    total_kb, pending, found = 0, [pid], False
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                found = True
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in children.read_text().split())
            except FileNotFoundError:
                continue
    return total_kb / 1024 if found else float("nan")


@contextmanager
def worker(settings: Settings, guarantee: str, log: Path, port: int, loglevel: str = "warn") -> Iterator[int]:
    config = log.with_suffix(".toml")
    config.write_text(CONFIG)
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_PROCESSING_GUARANTEE": guarantee,
        "ZVT_TRADING_CONFIG": str(config),
        "ZVT_WEB_PORT": str(port),
    }
    with background_process(
        [sys.executable, "-m", "zvt", "worker", "--loglevel", loglevel],
        env=env,
        log_path=log,
        stop_timeout=60,
    ) as p:
        yield p.pid


@contextmanager
def workers(
    count: int, settings: Settings, guarantee: str, log: Path, port: int, loglevel: str = "warn"
) -> Iterator[list[int]]:
    """`count` worker processes in one consumer group (the first on `port`), sharing the partitions."""
    with ExitStack() as running:
        yield [
            running.enter_context(
                worker(
                    settings,
                    guarantee,
                    log.with_name(f"{log.stem}-{n}{log.suffix}") if n else log,
                    port if n == 0 else free_port(),
                    loglevel,
                )
            )
            for n in range(count)
        ]


def total_rss_mb(pids: list[int]) -> float:
    return sum(rss_mb(pid) for pid in pids)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the worker processes have used so far: per event, a figure that other work on
    shared cores changes far less than the rates (which also count the time the worker waits for a core)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def string_field(name: str) -> Callable[[bytes], str | None]:
    """Reads the string value of the first `"name":` in compact (orjson) JSON without decoding the rest;
    None when it is null or absent. Only for fields that come before any nested object (an event's
    envelope fields precede `metadata`), so the first occurrence is the top-level one."""
    marker = f'"{name}":"'.encode()

    def find(value: bytes) -> str | None:
        start = value.find(marker)
        if start < 0:
            return None
        start += len(marker)
        return value[start : value.index(b'"', start)].decode()

    return find


def json_field(name: str) -> Callable[[bytes], str | None]:
    """The top-level field `name` of a JSON object (fully decoded: for the low-volume order topics)."""

    def find(value: bytes) -> str | None:
        found = orjson.loads(value).get(name)
        return None if found is None else str(found)

    return find


async def positioned(reader: asyncio.Task[Any], ready: asyncio.Event) -> None:
    """Wait until `reader` set `ready`, or raise what it failed with."""
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({reader, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if reader.done():
        reader.result()


async def arrivals(
    settings: Settings,
    topic: KafkaTopic,
    wanted: int,
    within: float,
    key: Callable[[bytes], str | None],
    from_start: bool = True,
    ready: asyncio.Event | None = None,
) -> dict[str, tuple[float, bytes]]:
    """Read `topic` (from the start, or only what arrives from now on) until `wanted` distinct keys;
    key -> (first arrival time, raw value). `ready` is set once the reader is positioned."""
    seen: dict[str, tuple[float, bytes]] = {}
    name = topic.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata, for the partition count
        known = consumer.partitions_for_topic(name) or range(topic.partitions)
        partitions = [TopicPartition(name, p) for p in sorted(known)]
        consumer.assign(partitions)
        if from_start:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolves the reset now, not at the first fetch
        if ready is not None:
            ready.set()
        async with asyncio.timeout(within):
            while len(seen) < wanted:
                for records in (await consumer.getmany(timeout_ms=50, max_records=10000)).values():
                    now = time.perf_counter()
                    for record in records:
                        value = record.value or b"{}"
                        found = key(value)
                        if found is not None and found not in seen:
                            seen[found] = (now, value)
    finally:
        await consumer.stop()
    return seen


async def send_batches(
    producer: AIOKafkaProducer,
    name: str,
    records: Iterable[tuple[int, bytes | None, bytes]],
    *,
    signed: bool = True,
) -> list[asyncio.Future[Any]]:
    """Send (partition, key, value) records as one batch per partition (another whenever one is full),
    signed as the platform's publishers sign (not the baselines' payloads); the batches' delivery futures."""
    batches: dict[int, Any] = {}
    futures: list[asyncio.Future[Any]] = []
    ring = keyring()
    for partition, key, value in records:
        headers = ring.headers(value) if signed else []
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full
            futures.append(await producer.send_batch(batch, name, partition=partition))
            batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise ValueError(f"a record of {len(value)} bytes does not fit in a batch")
    for partition, batch in batches.items():
        futures.append(await producer.send_batch(batch, name, partition=partition))
    return futures


async def partition_count(producer: AIOKafkaProducer, name: str) -> int:
    return len(await producer.partitions_for(name))


async def produce(
    settings: Settings, topic: KafkaTopic, payloads: Iterable[tuple[bytes, bytes]], *, signed: bool = True
) -> int:
    """Send (key, value) records to `topic`, partitioned by key as the default producer does, in batches
    of up to CHUNK records (taken lazily from `payloads`); returns how many were sent once all are acked."""
    producer = AIOKafkaProducer(**kafka_options(settings), max_batch_size=BATCH_BYTES)
    await producer.start()
    try:
        name = topic.full_name(settings.topic_prefix)
        all_partitions = list(range(await partition_count(producer, name)))
        partitioner = DefaultPartitioner()
        sent = 0
        pending: list[asyncio.Future[Any]] = []
        stream = iter(payloads)
        while chunk := list(itertools.islice(stream, CHUNK)):
            futures = await send_batches(
                producer,
                name,
                ((partitioner(key, all_partitions, all_partitions), key, value) for key, value in chunk),
                signed=signed,
            )
            await asyncio.gather(*pending)  # one chunk in flight while the next is built
            pending = futures
            sent += len(chunk)
        await asyncio.gather(*pending)
        return sent
    finally:
        await producer.stop()


def tick_stream(count: int, start: int = 0) -> Iterator[tuple[bytes, bytes]]:
    """Trade ticks `start` .. `start + count - 1`, alternating BTC/USDT on binance and ETH/USDT on okx;
    (key, encoded tick), built as they are taken."""
    for i in range(start, start + count):
        venue, symbol = ("binance", "BTC/USDT") if i % 2 else ("okx", "ETH/USDT")
        base = Decimal(60000) if symbol == "BTC/USDT" else Decimal(3000)
        tick = TradeTick(
            venue=venue,
            symbol=symbol,
            trade_id=str(i),
            price=base + Decimal(i % 100) / 100,
            quantity=Decimal("0.01"),
            market_time=datetime.now(UTC),
        )
        yield symbol.encode(), CODEC.encode(tick)


def ticks(count: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return list(tick_stream(count, start))


def order(i: int) -> OrderRequested:
    return OrderRequested(
        order_id=f"bench-{i}-{uuid.uuid4().hex[:6]}",
        account_id=f"acct-{i % ACCOUNTS}",
        symbol="BTC/USDT",
        side="buy" if i % 2 else "sell",
        order_type="market",
        quantity=Decimal("0.001"),
    )


async def books(settings: Settings) -> None:
    quotes = [
        QuoteTick(
            venue=venue,
            symbol=symbol,
            bid_price=Decimal(bid),
            ask_price=Decimal(ask),
            bid_size=Decimal(1_000_000),
            ask_size=Decimal(1_000_000),
            market_time=datetime.now(UTC),
        )
        for venue, symbol, bid, ask in (
            ("binance", "BTC/USDT", 60000, 60001),
            ("okx", "ETH/USDT", 2999, 3000),
        )
    ]
    await produce(settings, Topics.MARKET_TICKS, [(q.symbol.encode(), CODEC.encode(q)) for q in quotes])


async def orders_end_to_end(
    settings: Settings, count: int, rate: float | None, within: float
) -> tuple[float, list[float]]:
    """Offer `count` orders (at `rate`/s, or all at once): orders/s, and each order's latency (ms) from its
    send to the position.updated its fill caused."""
    made = [order(i) for i in range(count)]
    sent_at: dict[str, float] = {}
    ready = asyncio.Event()
    positions = asyncio.create_task(
        # Only this run's positions: the topic also holds those of an earlier run on the same worker.
        arrivals(
            settings,
            Topics.POSITIONS,
            count,
            within,
            json_field("last_fill_id"),
            from_start=False,
            ready=ready,
        )
    )
    await positioned(positions, ready)  # the reader is positioned before the first order goes out
    producer = AIOKafkaProducer(**kafka_options(settings), linger_ms=1)
    await producer.start()
    name = Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix)
    ring = keyring()
    started = time.perf_counter()
    try:
        for i, request in enumerate(made):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[request.order_id] = time.perf_counter()
            value = CODEC.encode(request)
            await producer.send(name, value, key=request.account_id.encode(), headers=ring.headers(value))
        await producer.flush()
    finally:
        await producer.stop()
    by_fill = await positions

    def our_fill(value: bytes) -> str | None:
        fill = orjson.loads(value)
        return str(fill["fill_id"]) if fill.get("order_id") in sent_at else None

    fills = await arrivals(settings, Topics.ORDERS_EXECUTED, count, 60, our_fill)
    latencies = [
        (by_fill[fill_id][0] - sent_at[orjson.loads(value)["order_id"]]) * 1000
        for fill_id, (_, value) in fills.items()
        if fill_id in by_fill
    ]
    elapsed = max(arrival for arrival, _ in by_fill.values()) - started
    return count / elapsed, latencies


async def ticks_through(settings: Settings, count: int, within: float) -> float:
    """Ticks/s: from the first tick sent until the market data agent published a price for each."""
    payloads = ticks(count)
    event_id = string_field("event_id")
    tick_ids = {event_id(value) for _, value in payloads}
    caused_by = string_field("causation_id")
    ready = asyncio.Event()
    prices = asyncio.create_task(
        arrivals(
            settings,
            Topics.PRICES,
            count,
            within,
            lambda value: cause if (cause := caused_by(value)) in tick_ids else None,
            ready=ready,
        )
    )
    await positioned(prices, ready)
    started = time.perf_counter()
    await produce(settings, Topics.MARKET_TICKS, payloads)
    seen = await prices
    return count / (max(arrival for arrival, _ in seen.values()) - started)


async def rss_stream(
    settings: Settings, pids: list[int], count: int, start: int
) -> tuple[float | None, float, float]:
    """Stream `count` more ticks through the worker, built in chunks and sent at most RSS_WINDOW ahead of
    what its group has committed on market.ticks; its RSS (MB) once RSS_SAMPLE_AFTER of them were
    processed (None if fewer were sent) and once all were, and the ticks/s from the first sent until the
    group had committed past the last (so up to a commit interval late)."""
    name = Topics.MARKET_TICKS.full_name(settings.topic_prefix)
    group = f"{settings.topic_prefix}{AGENTS_GROUP}"
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    producer = AIOKafkaProducer(**kafka_options(settings), max_batch_size=BATCH_BYTES)
    ends = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await admin.start()
    await producer.start()
    await ends.start()
    try:
        all_partitions = list(range(await partition_count(producer, name)))
        partitions = [TopicPartition(name, p) for p in all_partitions]
        base: int = sum((await ends.end_offsets(partitions)).values())  # every tick and book so far

        async def processed() -> int:
            offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
            committed: int = sum(max(meta.offset, 0) for meta in offsets.values())
            return max(0, committed - base)

        partitioner = DefaultPartitioner()
        stream = tick_stream(count, start)
        sent = 0
        pending: list[asyncio.Future[Any]] = []
        after_sample: float | None = None
        last_done, last_progress = -1, time.monotonic()
        started = time.perf_counter()
        while True:
            done = await processed()
            if after_sample is None and count >= RSS_SAMPLE_AFTER and done >= RSS_SAMPLE_AFTER:
                after_sample = total_rss_mb(pids)
                print(f"  RSS after {done:,} streamed ticks: {after_sample:.0f} MB", file=sys.stderr)
            if done >= count:
                return after_sample, total_rss_mb(pids), count / (time.perf_counter() - started)
            if done != last_done:
                last_done, last_progress = done, time.monotonic()
            elif time.monotonic() - last_progress > STALL_SECONDS:
                raise TimeoutError(f"the worker processed {done:,} of {count:,} streamed ticks, then stalled")
            if sent < count and sent - done < RSS_WINDOW:
                chunk = list(itertools.islice(stream, CHUNK))
                futures = await send_batches(
                    producer,
                    name,
                    ((partitioner(key, all_partitions, all_partitions), key, value) for key, value in chunk),
                )
                await asyncio.gather(*pending)
                pending = futures
                sent += len(chunk)
                continue
            await asyncio.gather(*pending)
            pending = []
            await asyncio.sleep(0.2)
    finally:
        await ends.stop()
        await producer.stop()
        await admin.close()


async def raw_per_record(settings: Settings, count: int) -> float:
    """A plain aiokafka loop: consume each message of one topic and produce it to another, nothing else."""
    source, target = RAW_PER_RECORD
    assert target is not None
    await produce(settings, source, itertools.repeat((b"k", PAYLOAD), count), signed=False)
    consumer = AIOKafkaConsumer(
        source.full_name(settings.topic_prefix),
        **kafka_options(settings),
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}bench-baseline",
    )
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    await consumer.start()
    await producer.start()
    moved = 0
    started = time.perf_counter()
    try:
        async for record in consumer:
            await producer.send(target.full_name(settings.topic_prefix), record.value, key=record.key)
            moved += 1
            if moved == count:
                break
        await producer.flush()
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return count / (time.perf_counter() - started)


async def raw_batch(settings: Settings, count: int) -> float:
    """A plain aiokafka loop in batches: getmany, one produced batch per partition (acks=all), await every
    batch's delivery, commit the consumed offsets; nothing else."""
    source, target = RAW_BATCH
    await produce(
        settings, source, ((f"acct-{i % ACCOUNTS}".encode(), PAYLOAD) for i in range(count)), signed=False
    )
    consumer = AIOKafkaConsumer(
        source.full_name(settings.topic_prefix),
        **kafka_options(settings),
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}bench-baseline-batch",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        **kafka_options(settings), acks="all", max_batch_size=BATCH_BYTES
    )
    await consumer.start()
    await producer.start()
    name = target.full_name(settings.topic_prefix)
    moved = 0
    started = time.perf_counter()
    try:
        targets = await partition_count(producer, name)
        while moved < count:
            fetched = await consumer.getmany(timeout_ms=100, max_records=50_000)
            if not fetched:
                continue
            futures = await send_batches(
                producer,
                name,
                (
                    (tp.partition % targets, record.key, record.value)
                    for tp, records in fetched.items()
                    for record in records
                ),
                signed=False,
            )
            await asyncio.gather(*futures)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
            moved += sum(len(records) for records in fetched.values())
    finally:
        await producer.stop()
        await consumer.stop()
    return moved / (time.perf_counter() - started)


async def signature_counts(port: int) -> dict[str, float]:
    """The worker's zvt_event_signatures_total by operation (signed, verified, refused)."""
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    return {
        sample.labels["operation"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "zvt_event_signatures"
        for sample in family.samples
        if sample.name == "zvt_event_signatures_total"
    }


def signing_share(
    before: dict[str, float], after: dict[str, float], events: int, costs: tuple[float, float]
) -> tuple[float, float]:
    """Signatures made and checked per event between two scrapes, and the µs they cost per event."""
    signed = after.get("signed", 0) - before.get("signed", 0)
    verified = after.get("verified", 0) - before.get("verified", 0)
    per_event = (signed + verified) / events
    return per_event, (signed * costs[0] + verified * costs[1]) / events


def signing_cost(samples: int = 20_000) -> tuple[float, float]:
    """Microseconds to sign and to verify one event (the bench's ticks and orders, alternately), in this
    process: what each signature on the pipeline's path adds to the worker's CPU per event."""
    ring = keyring()
    orders = [CODEC.encode(order(i)) for i in range(100)]
    values = [value for (_, tick), order in zip(ticks(100), orders, strict=True) for value in (tick, order)]
    signatures = [ring.sign(value) for value in values]
    rounds = max(1, samples // len(values))
    started = time.perf_counter()
    for _ in range(rounds):
        for value in values:
            ring.sign(value)
    signed = time.perf_counter()
    for _ in range(rounds):
        for value, signature in zip(values, signatures, strict=True):
            ring.verify(value, signature)
    verified = time.perf_counter()
    count = rounds * len(values)
    return (signed - started) / count * 1e6, (verified - signed) / count * 1e6


def ratio(figure: float, baseline: float) -> float:
    return figure / baseline if baseline else float("nan")


async def measure(args: argparse.Namespace, guarantee: str, workdir: Path, log: Console) -> dict[str, Any]:
    """Every figure for one processing guarantee, on topics of its own."""
    settings = load_settings().model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings, settings.topic_prefix)
    log.print(f"{guarantee}: topics {settings.topic_prefix}*")
    try:
        per_record = await raw_per_record(settings, args.ticks)
        log.print(f"{guarantee}: raw per-record loop {per_record:,.0f} msgs/s")
        batched = await raw_batch(settings, args.ticks)
        log.print(f"{guarantee}: raw batch loop {batched:,.0f} msgs/s")
        with workers(
            args.workers,
            settings,
            guarantee,
            workdir / f"worker-{guarantee}.log",
            args.web_port,
            args.worker_loglevel,
        ) as pids:
            await books(settings)
            await asyncio.sleep(args.warmup)  # the worker joins its group and reads the books
            rss_start = total_rss_mb(pids)
            cpu_before_ticks = cpu_seconds(pids)
            signatures_before_ticks = await signature_counts(args.web_port)
            tick_rate = await ticks_through(settings, args.ticks, args.timeout)
            tick_cpu_us = (cpu_seconds(pids) - cpu_before_ticks) / args.ticks * 1e6
            signatures_after_ticks = await signature_counts(args.web_port)
            rss_after_ticks = total_rss_mb(pids)
            log.print(f"{guarantee}: {tick_rate:,.0f} ticks/s, RSS {rss_start:.0f} -> {rss_after_ticks:.0f}")
            rss_after_sample: float | None = None
            rss_end = rss_after_ticks
            stream_rate: float | None = None
            if args.rss_ticks > 0:
                log.print(f"{guarantee}: streaming {args.rss_ticks:,} more ticks for RSS")
                rss_after_sample, rss_end, stream_rate = await rss_stream(
                    settings, pids, args.rss_ticks, args.ticks
                )
                log.print(
                    f"{guarantee}: RSS after {args.rss_ticks:,} more ticks {rss_end:.0f} MB "
                    f"({stream_rate:,.0f} ticks/s committed)"
                )
            cpu_before_orders = cpu_seconds(pids)
            signatures_before_orders = await signature_counts(args.web_port)
            burst_rate, _ = await orders_end_to_end(settings, args.orders, None, args.timeout)
            order_cpu_us = (cpu_seconds(pids) - cpu_before_orders) / args.orders * 1e6
            signatures_after_orders = await signature_counts(args.web_port)
            log.print(
                f"{guarantee}: {burst_rate:,.0f} orders/s (burst of {args.orders:,}); worker CPU "
                f"{tick_cpu_us:.0f} µs per tick, {order_cpu_us:.0f} µs per order"
            )
            offered = int(args.rate * args.seconds)
            latency_rate, latencies = await orders_end_to_end(settings, offered, args.rate, args.timeout)
            log.print(
                f"{guarantee}: latency p50 {percentile(latencies, 50):.1f} ms, "
                f"p99 {percentile(latencies, 99):.1f} ms at {args.rate:,.0f} orders/s offered"
            )
    finally:
        if not args.keep_topics:
            await delete_prefixed_topics(settings, settings.topic_prefix)
    source, target = RAW_BATCH
    costs = signing_cost()
    # The first worker's signatures (with several workers, theirs are not all counted: left out)
    per_tick, tick_signing_us = signing_share(
        signatures_before_ticks, signatures_after_ticks, args.ticks, costs
    )
    per_order, order_signing_us = signing_share(
        signatures_before_orders, signatures_after_orders, args.orders, costs
    )
    alone = args.workers == 1
    return {
        "guarantee": guarantee,
        "workers": args.workers,
        "kafka_security_protocol": settings.kafka_security_protocol,  # SASL_SSL under ZVT_TLS=1
        "topic_prefix": settings.topic_prefix,
        "ticks": args.ticks,
        "ticks_per_s": tick_rate,
        "raw_messages": args.ticks,
        "raw_payload_bytes": len(PAYLOAD),
        "raw_per_record_per_s": per_record,
        "raw_batch_per_s": batched,
        "raw_batch_partitions": {"source": source.partitions, "target": target.partitions},
        "ticks_vs_raw_batch": ratio(tick_rate, batched),
        "worker_cpu_us_per_tick": tick_cpu_us,
        "signing_us_per_sign": costs[0],
        "signing_us_per_verify": costs[1],
        "signatures_per_tick": per_tick if alone else None,
        "signatures_per_order": per_order if alone else None,
        "signing_us_per_tick": tick_signing_us if alone else None,
        "signing_us_per_order": order_signing_us if alone else None,
        "signing_share_of_tick_cpu": ratio(tick_signing_us, tick_cpu_us) if alone else None,
        "signing_share_of_order_cpu": ratio(order_signing_us, order_cpu_us) if alone else None,
        "ticks_vs_raw_per_record": ratio(tick_rate, per_record),
        "orders": args.orders,
        "orders_per_s": burst_rate,
        "worker_cpu_us_per_order": order_cpu_us,
        "orders_vs_raw_batch": ratio(burst_rate, batched),
        "offered_rate": args.rate,
        "offered_seconds": args.seconds,
        "offered_orders": offered,
        "latency_run_orders_per_s": latency_rate,
        "latency_samples": len(latencies),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "rss_ticks": args.rss_ticks,
        "rss_mb_start": rss_start,
        "rss_mb_after_ticks": rss_after_ticks,
        "rss_mb_after_100k": rss_after_sample,
        "rss_mb_end": rss_end,
        "rss_stream_ticks_per_s": stream_rate,
    }


def table(results: list[dict[str, Any]]) -> Table:
    shown = Table(
        "measure",
        "figure",
        "raw per-record",
        "raw batch",
        "vs batch",
        title=f"Agent pipeline on this machine, Kafka over {results[0]['kafka_security_protocol']}",
    )
    for r in results:
        g = r["guarantee"]
        shown.add_row(
            f"{g}: ticks/s, market data agent",
            f"{r['ticks_per_s']:,.0f}",
            f"{r['raw_per_record_per_s']:,.0f}",
            f"{r['raw_batch_per_s']:,.0f}",
            f"{r['ticks_vs_raw_batch']:.3f}",
        )
        shown.add_row(
            f"{g}: orders/s, requested -> position.updated",
            f"{r['orders_per_s']:,.0f}",
            f"{r['raw_per_record_per_s']:,.0f}",
            f"{r['raw_batch_per_s']:,.0f}",
            f"{r['orders_vs_raw_batch']:.4f}",
        )
        shown.add_row(
            f"{g}: latency p50 / p99 at {r['offered_rate']:,.0f} orders/s, {r['offered_seconds']:.0f} s (ms)",
            f"{r['latency_p50_ms']:.1f} / {r['latency_p99_ms']:.1f}",
            "",
            "",
            "",
        )
        shown.add_row(
            f"{g}: worker CPU per tick / per order (µs)",
            f"{r['worker_cpu_us_per_tick']:.0f} / {r['worker_cpu_us_per_order']:.0f}",
            "",
            "",
            "",
        )
        shown.add_row(
            f"{g}: signing, one HMAC-SHA256 sign / verify of an event (µs)",
            f"{r['signing_us_per_sign']:.2f} / {r['signing_us_per_verify']:.2f}",
            "",
            "",
            "",
        )
        if r["signing_share_of_tick_cpu"] is not None:
            shown.add_row(
                f"{g}: signing's cost per tick / per order: signatures, µs, share of the worker's CPU",
                f"{r['signatures_per_tick']:.1f}, {r['signing_us_per_tick']:.1f} µs, "
                f"{r['signing_share_of_tick_cpu']:.1%} / {r['signatures_per_order']:.1f}, "
                f"{r['signing_us_per_order']:.1f} µs, {r['signing_share_of_order_cpu']:.1%}",
                "",
                "",
                "",
            )
        after = f"{r['ticks']:,} ticks"
        figures = f"{r['rss_mb_start']:.0f} / {r['rss_mb_after_ticks']:.0f}"
        if r["rss_ticks"]:
            after += f" / 100k more / {r['rss_ticks']:,} more"
            sample = r["rss_mb_after_100k"]
            figures += f" / {'-' if sample is None else f'{sample:.0f}'} / {r['rss_mb_end']:.0f}"
        shown.add_row(f"{g}: worker RSS before / after {after} (MB)", figures, "", "", "")
    return shown


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if abs(value) < 100 else round(value, 1)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


async def run(args: argparse.Namespace, workdir: Path) -> None:
    log = Console(stderr=True, width=None if sys.stderr.isatty() else 140)  # a log file: the table unwrapped
    results = [await measure(args, guarantee, workdir, log) for guarantee in args.guarantees]
    people = log if args.json else Console()
    people.print(table(results))
    people.print(
        f"baselines: raw aiokafka consume -> produce of {args.ticks:,} 400-byte messages, per record "
        f"({RAW_PER_RECORD[0].name} -> {RAW_PER_RECORD[0].name}.dead-letter) and in batches "
        f"({RAW_BATCH[0].name} -> {RAW_BATCH[1].name}, {RAW_BATCH[0].partitions} partitions each)"
    )
    if args.json:
        report = dict(results[0])
        if len(results) > 1:
            report["by_guarantee"] = {r["guarantee"]: r for r in results}
        # orjson writes NaN (no samples) as null.
        sys.stdout.write(orjson.dumps(rounded(report), option=orjson.OPT_INDENT_2).decode() + "\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=20_000, help="ticks, and messages of each baseline")
    parser.add_argument("--orders", type=int, default=2_000, help="orders of the burst")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered orders/s for the latency run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency run")
    parser.add_argument(
        "--rss-ticks", type=int, default=0, help="after the ticks, stream this many more and sample RSS"
    )
    parser.add_argument(
        "--guarantees", nargs="+", default=["idempotent"], choices=["idempotent", "exactly_once"]
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout; the table to stderr")
    parser.add_argument("--warmup", type=float, default=12.0, help="seconds for the worker to join its group")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for prices, positions")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--web-port", type=int, default=0, help="the worker's web monitor; 0: a free port")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the partitions (RSS is their sum)"
    )
    parser.add_argument("--worker-loglevel", default="warn")
    args = parser.parse_args()
    args.web_port = args.web_port or free_port()
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench"))
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir))


if __name__ == "__main__":
    main()
