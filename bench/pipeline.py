"""Agent pipeline throughput and latency beside a raw aiokafka consume->produce loop.

`python -m bench.pipeline`.
In one run, on fresh topics: ticks/s through the market data agent; orders/s end to end (order.requested ->
position.updated) and latency p50/p99 at a fixed offered rate, under both processing guarantees; worker RSS
before and after the ticks; and the baseline: a plain aiokafka loop that decodes nothing and forwards each
message, over the same number of messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from schemas import CODEC, OrderRequested, QuoteTick, TradeTick
from topics import Topics
from topics.admin import ensure_topics
from topics.registry import KafkaTopic
from zvt.processes import background_process
from zvt.session_report import percentile
from zvt.settings import Settings, load_settings

CONFIG = """
[default_limits]
max_order_notional = "100000000"
max_position_notional = "100000000000"
max_gross_exposure = "100000000000"
max_open_orders = 1000000
max_orders_per_window = 1000000
"""
ACCOUNTS = 24


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


async def arrivals(
    settings: Settings,
    topic: KafkaTopic,
    wanted: int,
    within: float,
    key: Callable[[dict[str, Any]], str | None],
    from_start: bool = True,
) -> dict[str, tuple[float, dict[str, Any]]]:
    """Read `topic` (from the start, or only what arrives from now on) until `wanted` distinct keys;
    key -> (first arrival time, event)."""
    seen: dict[str, tuple[float, dict[str, Any]]] = {}
    consumer = AIOKafkaConsumer(
        topic.full_name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest" if from_start else "latest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(within):
            while len(seen) < wanted:
                for records in (await consumer.getmany(timeout_ms=50, max_records=10000)).values():
                    now = time.perf_counter()
                    for record in records:
                        data = orjson.loads(record.value or b"{}")
                        found = key(data)
                        if found is not None and found not in seen:
                            seen[found] = (now, data)
    finally:
        await consumer.stop()
    return seen


async def produce(settings: Settings, topic: KafkaTopic, payloads: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        name = topic.full_name(settings.topic_prefix)
        for key, value in payloads:
            await producer.send(name, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def ticks(count: int) -> list[tuple[bytes, bytes]]:
    made = []
    for i in range(count):
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
        made.append((symbol.encode(), CODEC.encode(tick)))
    return made


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


async def orders_end_to_end(settings: Settings, count: int, rate: float | None) -> tuple[float, list[float]]:
    """Offer `count` orders (at `rate`/s, or all at once): orders/s, and each order's latency (ms) from its
    send to the position.updated its fill caused."""
    made = [order(i) for i in range(count)]
    sent_at: dict[str, float] = {}
    positions = asyncio.create_task(
        # Only this run's positions: the topic also holds those of an earlier run on the same worker.
        arrivals(
            settings, Topics.POSITIONS, count, 600, lambda data: data.get("last_fill_id"), from_start=False
        )
    )
    await asyncio.sleep(1)  # the reader is positioned before the first order goes out
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=1)
    await producer.start()
    name = Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix)
    started = time.perf_counter()
    try:
        for i, request in enumerate(made):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[request.order_id] = time.perf_counter()
            await producer.send(name, CODEC.encode(request), key=request.account_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    by_fill = await positions
    fills = await arrivals(
        settings,
        Topics.ORDERS_EXECUTED,
        count,
        60,
        lambda data: data.get("fill_id") if data.get("order_id") in sent_at else None,
    )
    latencies = [
        (by_fill[fill_id][0] - sent_at[data["order_id"]]) * 1000
        for fill_id, (_, data) in fills.items()
        if fill_id in by_fill and data["order_id"] in sent_at
    ]
    elapsed = max(arrival for arrival, _ in by_fill.values()) - started
    return count / elapsed, latencies


async def ticks_through(settings: Settings, count: int) -> float:
    """Ticks/s: from the first tick sent until the market data agent published a price for each."""
    payloads = ticks(count)
    prices = asyncio.create_task(
        arrivals(settings, Topics.PRICES, count, 600, lambda data: data.get("causation_id"))
    )
    await asyncio.sleep(1)
    started = time.perf_counter()
    await produce(settings, Topics.MARKET_TICKS, payloads)
    seen = await prices
    return count / (max(arrival for arrival, _ in seen.values()) - started)


async def raw_baseline(settings: Settings, count: int) -> float:
    """A plain aiokafka loop: consume each message of one topic and produce it to another, nothing else."""
    source, target = Topics.ALERTS, Topics.RISK_BREACHES  # otherwise unused in the bench run
    await produce(settings, source, [(b"k", b"x" * 400)] * count)
    consumer = AIOKafkaConsumer(
        source.full_name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}bench-baseline",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
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


async def run(args: argparse.Namespace, workdir: Path, console: Console) -> None:
    table = Table("measure", "figure", "baseline", "ratio", title="Agent pipeline on this machine")
    base = load_settings()
    for guarantee in args.guarantees:
        settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        baseline = await raw_baseline(settings, args.ticks)
        with worker(
            settings, guarantee, workdir / f"worker-{guarantee}.log", args.web_port, args.worker_loglevel
        ) as pid:
            await books(settings)
            await asyncio.sleep(12)  # the worker joins its group and reads the books
            rss_before = rss_mb(pid)
            tick_rate = await ticks_through(settings, args.ticks)
            rss_after = rss_mb(pid)
            burst_rate, _ = await orders_end_to_end(settings, args.orders, None)
            _, latencies = await orders_end_to_end(settings, int(args.rate * args.seconds), args.rate)
        table.add_row(
            f"{guarantee}: ticks/s, market data agent",
            f"{tick_rate:,.0f}",
            f"{baseline:,.0f}",
            f"{tick_rate / baseline:.2f}",
        )
        table.add_row(
            f"{guarantee}: orders/s, requested -> position.updated",
            f"{burst_rate:,.0f}",
            f"{baseline:,.0f}",
            f"{burst_rate / baseline:.3f}",
        )
        table.add_row(
            f"{guarantee}: latency p50 / p99 at {args.rate:.0f} orders/s (ms)",
            f"{percentile(latencies, 50):.1f} / {percentile(latencies, 99):.1f}",
            "",
            "",
        )
        table.add_row(
            f"{guarantee}: worker RSS before / after {args.ticks:,} ticks (MB)",
            f"{rss_before:.0f} / {rss_after:.0f}",
            "",
            "",
        )
    console.print(table)
    console.print("baseline: raw aiokafka consume -> produce of the same number of 400-byte messages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0, help="offered orders/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--guarantees", nargs="+", default=["idempotent", "exactly_once"])
    parser.add_argument("--web-port", type=int, default=6067)
    parser.add_argument("--worker-loglevel", default="warn")
    args = parser.parse_args()
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench"))
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir, Console()))


if __name__ == "__main__":
    main()
