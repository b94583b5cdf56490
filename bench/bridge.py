"""Redis Streams bridge throughput and latency beside redis-benchmark's XADD (`python -m bench.bridge`).

On the running Redis (and Kafka, for the bridge row), under a scratch prefix removed afterwards:
- baseline: `redis-benchmark` XADD of a tiny entry, pipelined (-P 100) and one request at a time per client;
- the bus: idempotent publish (the Lua script, batches of 1,000) and a consumer group reading, checking and
  acknowledging batches of 1,000; publish -> consume latency at an offered rate;
- the bridge: Kafka -> Redis, events/s once the consumer has joined its group;
then the publish rows again with `appendfsync everysec` (CONFIG SET, restored afterwards) to show what
fsyncing every write costs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import subprocess
import time
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from bench.flows import FlowGenerator
from bridge.bus import StreamBus
from bridge.consumer import ConsumerConfig, Delivery, StreamConsumer
from bridge.entries import Envelope, checked_envelope, envelope
from bridge.forward import BridgeStats, KafkaToRedis
from bridge.routes import Routes
from runtime.clients import kafka_options, redis_client
from runtime.settings import Settings, load_settings
from schemas import Event
from schemas.signing import SIGNATURE_HEADER, keyring
from topics import Streams, Topics

console = Console(width=150)
STREAM = Streams.ORDER_EXECUTIONS


def _envelopes(count: int) -> list[Envelope]:
    events = [
        e for e in FlowGenerator(seed=3, accounts=20).events(count * 5) if isinstance(e, STREAM.value_types)
    ]
    while len(events) < count:
        events += [e.model_copy(update={"event_id": uuid.uuid4()}) for e in events[: count - len(events)]]
    return [Envelope.signed(e) for e in events[:count]]


def _fresh(items: Sequence[Envelope]) -> list[Envelope]:
    """The same events under new ids, so the idempotent publish takes them all again."""
    fresh = [orjson.dumps({**item.body, "event_id": str(uuid.uuid4())}) for item in items]
    return [envelope(data, STREAM.value_types, "bench", keyring().sign(data)) for data in fresh]


def _envelope(data: bytes, allowed: tuple[type[Event], ...], where: str) -> Envelope:
    """A stream consumer's decoder: the entry's bytes are verified by then (`bridge.entries.entry_data`)."""
    return checked_envelope(data, allowed, where, b"")


def redis_benchmark(url: str, count: int, pipeline: int, key: str) -> float:
    """Requests/s of `redis-benchmark` XADD on `key` (50 clients, `pipeline` requests per round trip)."""
    address = urlsplit(url)
    argv = ["redis-benchmark", "-h", address.hostname or "127.0.0.1", "-p", str(address.port or 6379)]
    argv += ["-n", str(count), "-P", str(pipeline), "--csv", "XADD", key, "*", "f", "v"]
    output = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    return float(rows[-1]["rps"])


async def _timed_publish(bus: StreamBus, items: Sequence[Envelope], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        await bus.publish_envelopes(STREAM, items[start : start + batch])
    return len(items) / (time.perf_counter() - started)


async def _ignore(deliveries: Sequence[Delivery[Envelope]]) -> list[BaseException | None]:
    return [None] * len(deliveries)


async def _timed_consume(bus: StreamBus, expected: int, batch: int) -> float:
    consumer = StreamConsumer(
        bus, STREAM, "bench", _ignore, _envelope, ConsumerConfig(batch=batch, block_ms=100)
    )
    await bus.ensure_group(STREAM, "bench")
    started = time.perf_counter()
    while consumer.stats.handled < expected:
        await consumer.step()
    return expected / (time.perf_counter() - started)


async def _latency(bus: StreamBus, items: Sequence[Envelope], rate: int, group: str) -> tuple[float, float]:
    """p50 and p99 (ms) from before the publish call to the handler, at `rate` events/s in 10 ms ticks."""
    sent: dict[str, float] = {}
    took: list[float] = []

    async def handle(deliveries: Sequence[Delivery[Envelope]]) -> list[BaseException | None]:
        now = time.perf_counter()
        took.extend(now - sent[d.value.event_id] for d in deliveries)
        return [None] * len(deliveries)

    consumer = StreamConsumer(bus, STREAM, group, handle, _envelope, ConsumerConfig(batch=1000, block_ms=50))
    await bus.ensure_group(STREAM, group, start_id="$")
    per_tick = max(1, rate // 100)

    async def produce() -> None:
        next_tick = time.perf_counter()
        for start in range(0, len(items), per_tick):
            chunk = items[start : start + per_tick]
            now = time.perf_counter()
            sent.update((item.event_id, now) for item in chunk)
            await bus.publish_envelopes(STREAM, chunk)
            next_tick += 0.01
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))

    producer = asyncio.create_task(produce())
    while len(took) < len(items):
        await consumer.step()
    await producer
    took.sort()
    return took[len(took) // 2] * 1000, took[int(len(took) * 0.99)] * 1000


async def _bridge_rate(settings: Settings, bus: StreamBus, items: Sequence[Envelope]) -> float:
    """Kafka -> Redis events/s, timed from the first forwarded batch (the group join is not the bridge)."""
    routes = Routes.of([STREAM]).inbound
    names = {route.topic.full_name(settings.topic_prefix): route.topic.partitions for route in routes}
    topic = Topics.ORDERS_EXECUTED.full_name(settings.topic_prefix)
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    await admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in names.items()])
    producer = AIOKafkaProducer(**kafka_options(settings), linger_ms=20, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                item.data,
                key=item.key_for(Topics.ORDERS_EXECUTED),
                headers=[(SIGNATURE_HEADER, item.signature)],
            )
            for item in items
        ]
        await asyncio.gather(*sent)
        stats, stopping = BridgeStats(), asyncio.Event()
        bridge = KafkaToRedis(settings, bus, producer, routes, stats, stopping, max_records=2000)
        task = asyncio.create_task(bridge.run())
        while stats.into_redis == 0:  # noqa: ASYNC110  (a counter, not an event)
            await asyncio.sleep(0.005)
        first, started = stats.into_redis, time.perf_counter()
        while stats.into_redis + stats.duplicates < len(items):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        rate = (len(items) - first) / (time.perf_counter() - started)
        stopping.set()
        await task
        return rate
    finally:
        await producer.stop()
        await admin.delete_topics(list(names))
        await admin.close()


async def run(settings: Settings, count: int, batch: int, rate: int) -> Table:
    client = redis_client(settings)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    bus = StreamBus(client, prefix)
    baseline_key = f"{prefix}redis-benchmark"
    items = _envelopes(count)
    original = str((await client.config_get("appendfsync"))["appendfsync"])
    rows: list[tuple[str, str, float | None, str]] = []
    try:
        for fsync in ("always", "everysec"):
            await client.config_set("appendfsync", fsync)
            base = redis_benchmark(settings.redis_url, count, 100, baseline_key)
            single = redis_benchmark(settings.redis_url, count // 5, 1, baseline_key)
            rows.append((fsync, "redis-benchmark XADD, 50 clients, -P 100 (baseline)", base, ""))
            rows.append((fsync, "redis-benchmark XADD, 50 clients, one request each", single, ""))
            fresh = _fresh(items)
            publish = await _timed_publish(bus, fresh, batch)
            rows.append((fsync, f"bus publish (idempotent, batches of {batch:,})", publish, ""))
            if fsync == "always":
                consume = await _timed_consume(bus, len(fresh), batch)
                rows.append((fsync, f"bus consume (XREADGROUP {batch:,}, check, XACK)", consume, ""))
                forwarded = await _bridge_rate(
                    settings.model_copy(update={"topic_prefix": prefix}), bus, items
                )
                rows.append((fsync, "bridge Kafka -> Redis (check, publish, commit)", forwarded, ""))
            p50, p99 = await _latency(bus, _fresh(items[: rate * 3]), rate, f"latency-{fsync}")
            rows.append(
                (fsync, f"publish -> consume latency at {rate:,}/s", None, f"p50 {p50:.2f} / p99 {p99:.2f}")
            )
    finally:
        await client.config_set("appendfsync", original)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    table = Table(
        "appendfsync", "operation", "events/s", "vs baseline", "latency ms", title=f"{count:,} events"
    )
    baselines = {fsync: value or 1.0 for fsync, name, value, _ in rows if "(baseline)" in name}
    for fsync, name, value, latency in rows:
        ratio = f"{value / baselines[fsync]:.2f}" if value is not None else ""
        table.add_row(fsync, name, f"{value:,.0f}" if value is not None else "", ratio, latency)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per throughput row")
    parser.add_argument("--batch", type=int, default=1_000, help="events per publish call and per read")
    parser.add_argument("--rate", type=int, default=5_000, help="offered events/s for the latency row (3 s)")
    args = parser.parse_args()
    console.print(asyncio.run(run(load_settings(), args.events, args.batch, args.rate)))


if __name__ == "__main__":
    main()
