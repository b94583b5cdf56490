"""How many concurrent strategies one worker sustains: price events/s through the strategies agent.

`python -m bench.strategies [--strategies 0 10 100 1000] [--json]`.
For each count, on fresh topics, one worker runs the market data and strategies agents with that many
strategy instances (the three example kinds in turn, on two symbols, every venue's prices driving them);
trade ticks go in as fast as the producer can send them, and the figure is the rate at which the worker's
consumer group commits past every price (market data agent and strategies agent both done). Strategy
evaluations/s = prices/s x the strategies trading each price's symbol. The baseline is the same worker
with 0 strategies: the cost of the ticks -> prices hop (a worker without strategies reads no prices).
A count sustains a tick rate R when its prices/s is above R. With --json, stdout carries one JSON object
(`strategies_<n>_prices_per_s`, `_ticks` and `_rss_mb` per count); the table and progress go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.table import Table

from bench.pipeline import produce, rss_mb, ticks
from runtime.clients import kafka_options
from runtime.processes import background_process
from runtime.settings import Settings, load_settings
from topics import AGENTS_GROUP, Topics
from topics.admin import ensure_topics

SYMBOLS = ("BTC/USDT", "ETH/USDT")  # bench.pipeline.ticks alternates these two
KINDS = (
    ("ma_crossover", 'fast = 5\nslow = 20\nquantity = "0.01"'),
    ("mean_reversion", 'window = 30\nentry_z = "2"\nexit_z = "0.5"\nquantity = "0.01"'),
    ("grid", 'spacing = "0.2"\nlevels = 3\nquantity = "0.01"'),
)


def strategies_toml(count: int) -> str:
    entries = []
    for i in range(count):
        kind, parameters = KINDS[i % len(KINDS)]
        symbol = SYMBOLS[i // len(KINDS) % len(SYMBOLS)]
        entries.append(
            f'[[strategies]]\nid = "bench-{i}"\nkind = "{kind}"\naccount = "bench-{i % 24}"\n'
            f'symbols = ["{symbol}"]\n[strategies.parameters]\n{parameters}\n'
        )
    return "\n".join(entries)


async def committed_prices(settings: Settings, admin: AIOKafkaAdminClient, count: int) -> int:
    """How many market.prices records the worker's group has committed past, summed over partitions; with
    no strategies nobody reads prices, and the ticks the market data stage committed past count instead."""
    offsets = await admin.list_consumer_group_offsets(f"{settings.topic_prefix}{AGENTS_GROUP}")
    name = (Topics.PRICES if count else Topics.MARKET_TICKS).full_name(settings.topic_prefix)
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == name)


async def measure(count: int, tick_count: int, workdir: Path, port: int) -> tuple[float, float]:
    """Prices/s through a worker with `count` strategies, and its RSS (MB) at the end."""
    settings = load_settings().model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings, settings.topic_prefix)
    config = workdir / f"strategies-{count}.toml"
    config.write_text(strategies_toml(count))
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_STRATEGIES_CONFIG": str(config),
        "ZVT_WEB_PORT": str(port),
    }
    command = [sys.executable, "-m", "zvt", "worker", "--agents", "market_data,strategies"]
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        with background_process(
            command, env=env, log_path=workdir / f"worker-{count}.log", stop_timeout=60
        ) as process:
            await asyncio.sleep(12)  # the worker joins its group
            started = time.perf_counter()
            await produce(settings, Topics.MARKET_TICKS, ticks(tick_count))
            async with asyncio.timeout(900):
                while await committed_prices(settings, admin, count) < tick_count:  # noqa: ASYNC110 - polls Kafka
                    await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            return tick_count / elapsed, rss_mb(process.pid)
    finally:
        await admin.close()


async def run(args: argparse.Namespace, workdir: Path, console: Console) -> dict[str, Any]:
    table = Table(
        "strategies",
        "ticks",
        "prices/s",
        "evaluations/s",
        "vs 0 strategies",
        "worker RSS (MB)",
        title="Strategies agent on this machine (market_data + strategies agents, one worker)",
    )
    baseline: float | None = None
    figures: dict[str, Any] = {}
    for count in sorted(set(args.strategies)):
        tick_count = max(args.min_ticks, min(args.ticks, args.evaluations // max(count, 1)))
        rate, rss = await measure(count, tick_count, workdir, args.web_port)
        baseline = rate if baseline is None else baseline
        per_price = count / len(SYMBOLS)
        table.add_row(
            f"{count:,}",
            f"{tick_count:,}",
            f"{rate:,.0f}",
            f"{rate * per_price:,.0f}",
            f"{rate / baseline:.2f}",
            f"{rss:.0f}",
        )
        console.print(f"{count} strategies: {rate:,.0f} prices/s")
        figures[f"strategies_{count}_prices_per_s"] = round(rate, 1)
        figures[f"strategies_{count}_ticks"] = tick_count
        figures[f"strategies_{count}_rss_mb"] = round(rss, 1)
    console.print(table)
    console.print(
        "prices/s: trade ticks sent at full speed until the worker's group committed past every price; "
        "evaluations/s = prices/s x strategies per symbol; baseline: the first row (0 strategies)."
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategies", type=int, nargs="+", default=[0, 10, 100, 1000])
    parser.add_argument("--ticks", type=int, default=4000, help="ticks per run, at most")
    parser.add_argument("--min-ticks", type=int, default=300)
    parser.add_argument(
        "--evaluations", type=int, default=400_000, help="ticks x strategies per run, at most"
    )
    parser.add_argument("--web-port", type=int, default=6068)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout; the table to stderr")
    args = parser.parse_args()
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench"))
    workdir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 140) if args.json else Console()
    figures = asyncio.run(run(args, workdir, console))
    if args.json:
        sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
