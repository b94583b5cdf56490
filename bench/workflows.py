"""place_order workflow latency and throughput beside an empty one-task workflow, in one run.

`python -m bench.workflows`.
Starts, on fresh topics, streams and a Hatchet namespace of its own: the agents (`zvt worker`), the bridge
and a workflow worker. Then, for the empty workflow (`zvt.noop`, the baseline: the engine's own trigger ->
run -> result round trip) and for `trading.place_order` (one task of five stages, the order through
Redis, the bridge, Kafka and the agents and back): latency p50/p99 of runs one after another, and runs/s
with many at once.
Then `portfolio.rebalance` of `--legs` legs (50 by default; one synthetic spot market per leg, listed for
the run in a copy of the market data beside the real ones), from the trigger to its result, a few times.

`--json`: stdout carries one JSON object (`empty_p50_ms`, `empty_runs_per_s`, `chain_p50_ms`,
`place_order_p50_ms`, `place_order_p99_ms`, `place_order_runs_per_s`, `concurrency`, `runs`,
`rebalance_legs`, `rebalance_p50_ms`, `rebalance_max_ms`, `rebalances`); the table goes to stderr.
`--only orders|rebalance|breakdown` (repeatable) measures only those parts; `breakdown` runs `--breakdown`
place_order runs one after another and says where their time goes (`bench.workflow_breakdown`; keys
`breakdown_phases_ms`, `breakdown_ms`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.pipeline import CONFIG, books, produce
from bench.workflow_breakdown import breakdown_table, measure_breakdown
from reports.session import percentile
from runtime.processes import background_process
from runtime.settings import Settings, load_settings
from schemas import CODEC, QuoteTick
from topics import Topics
from topics.admin import ensure_topics

ACCOUNTS = 24
PARTS = ("orders", "rebalance", "breakdown")
LEG_PRICE = Decimal(100)  # every synthetic leg market's ask (bid one cent below)
REBALANCE_CASH = Decimal(1_000_000)


async def timed(run: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await run()
    return (time.perf_counter() - started) * 1000


async def latencies(run: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    return [await timed(run) for _ in range(count)]


async def throughput(run: Callable[[], Awaitable[Any]], count: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


Runner = Callable[[], Awaitable[Any]]


def runners() -> dict[str, Runner]:
    """The runs measured, by label; imported here, once the namespace is in the environment."""
    from hatchet_workflows.noop.workflow import noop_chain_workflow, noop_workflow
    from hatchet_workflows.place_order.models import OrderOutcome, PlaceOrderInput
    from hatchet_workflows.place_order.trigger import place_order

    sequence = iter(range(10**9))

    async def empty() -> None:
        await noop_workflow.aio_run()

    async def chain() -> None:
        await noop_chain_workflow.aio_run()

    async def order() -> None:
        i = next(sequence)
        result = await place_order(
            PlaceOrderInput(
                account_id=f"acct-{i % ACCOUNTS}",
                symbol="BTC/USDT",
                side="buy" if i % 2 else "sell",
                quantity=Decimal("0.001"),
                order_id=f"bench-{uuid.uuid4().hex[:12]}",
            )
        )
        if result.outcome is not OrderOutcome.FILLED:
            raise RuntimeError(f"bench order not filled: {result}")

    return {"empty workflow (baseline)": empty, "5 empty tasks in a chain": chain, "place_order": order}


def leg_symbols(count: int) -> list[str]:
    return [f"R{i:02d}/USDT" for i in range(count)]


def leg_markets(workdir: Path, count: int) -> Path:
    """A copy of the market data whose binance.json also lists `count` synthetic spot markets, each with
    BTC/USDT's rules (precision, limits) under another symbol: as many legs as wanted, one book each."""
    from agents.settings import get_agent_settings

    markets = workdir / "markets"
    shutil.rmtree(markets, ignore_errors=True)
    shutil.copytree(get_agent_settings().markets_dir, markets)
    binance = orjson.loads((markets / "binance.json").read_bytes())
    model = binance["BTC/USDT"]
    for symbol in leg_symbols(count):
        base = symbol.split("/")[0]
        binance[symbol] = model | {"id": f"{base}USDT", "symbol": symbol, "base": base, "baseId": base}
    (markets / "binance.json").write_bytes(orjson.dumps(binance))
    return markets


async def leg_books(settings: Settings, count: int) -> None:
    quotes = [
        QuoteTick(venue="binance", symbol=symbol, bid_price=LEG_PRICE - Decimal("0.01"), ask_price=LEG_PRICE,
                  bid_size=Decimal(1_000_000), ask_size=Decimal(1_000_000), market_time=datetime.now(UTC))
        for symbol in leg_symbols(count)
    ]  # fmt: skip
    await produce(settings, Topics.MARKET_TICKS, [(q.symbol.encode(), CODEC.encode(q)) for q in quotes])


def rebalance_runner(legs: int) -> Runner:
    """One rebalance of `legs` legs from cash (equal weights), each run on an account of its own; raises
    unless every leg filled."""
    from hatchet_workflows.rebalance.models import RebalanceInput, RebalanceResult
    from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow
    from schemas import RebalanceStatus

    symbols = leg_symbols(legs)
    sequence = iter(range(10**9))

    async def rebalance() -> None:
        i = next(sequence)
        raw = await rebalance_workflow.aio_run(
            RebalanceInput(
                portfolio_id=f"bench-pf-{i}",
                account_id=f"bench-rb-{uuid.uuid4().hex[:8]}",
                target_weights={symbol: Decimal(1) / legs for symbol in symbols},
                prices={symbol: LEG_PRICE for symbol in symbols},
                cash=REBALANCE_CASH,
            )
        )
        result = RebalanceResult.model_validate(raw[finish.name])
        filled = [o for o in result.outcomes if not o.failed]
        if result.event.status is not RebalanceStatus.COMPLETED or len(filled) != legs:
            raise RuntimeError(f"bench rebalance {result.event.status}: {result.event.detail}")

    return rebalance


async def serving(name: str) -> None:
    from hatchet_workflows.noop.workflow import noop_chain_workflow, noop_workflow
    from hatchet_workflows.place_order.workflow import place_order_workflow
    from hatchet_workflows.rebalance.workflow import rebalance_workflow
    from hatchet_workflows.worker import wait_for_worker_serving

    async with asyncio.timeout(90):
        for workflow in (noop_workflow, noop_chain_workflow, place_order_workflow, rebalance_workflow):
            await wait_for_worker_serving(workflow, worker_name=name)


async def measure(args: argparse.Namespace, settings: Settings, workdir: Path, console: Console) -> Figures:
    from hatchet_workflows.worker import worker_command
    from zvt.demo import wait_for_books

    config = workdir / "trading.toml"
    config.write_text(CONFIG)
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_TRADING_CONFIG": str(config),
        "ZVT_WEB_PORT": str(args.web_port),
        "ZVT_MARKETS_DIR": str(leg_markets(workdir, args.legs)),
    }
    name = f"bench-{uuid.uuid4().hex[:6]}"
    agents = [sys.executable, "-m", "zvt", "worker", "--loglevel", "warn"]
    bridge = [sys.executable, "-m", "zvt", "bridge", "--loglevel", "warning"]
    with (
        background_process(agents, env=env, log_path=workdir / "agents.log", stop_timeout=60),
        background_process(bridge, env=env, log_path=workdir / "bridge.log"),
        background_process(
            worker_command(name, args.slots), env=env, log_path=workdir / "workflow-worker.log"
        ),
    ):
        await books(settings)
        await leg_books(settings, args.legs)
        async with asyncio.timeout(90):
            await wait_for_books(
                args.web_port, {"binance:BTC/USDT", *(f"binance:{s}" for s in leg_symbols(args.legs))}
            )
        await serving(name)
        runs = runners() if "orders" in args.only else {}
        for run in runs.values():
            await latencies(run, 3)  # warm connections and listeners
        console.print(f"measuring {args.runs} runs one after another, then {args.burst} at once, each...")
        times = {label: await latencies(run, args.runs) for label, run in runs.items()}
        rates = {label: await throughput(run, args.burst, args.concurrency) for label, run in runs.items()}
        rebalances: list[float] = []
        if "rebalance" in args.only:
            rebalance = rebalance_runner(args.legs)
            await rebalance()  # warm
            console.print(f"measuring {args.rebalances} rebalances of {args.legs} legs, one after another...")
            rebalances = await latencies(rebalance, args.rebalances)
        phases: dict[str, float] = {}
        groups: dict[str, float] = {}
        if "breakdown" in args.only:
            console.print(f"timing the phases of {args.breakdown} place_order runs, one after another...")
            phases, groups = await measure_breakdown(args.breakdown)
    return Figures(times, rates, rebalances, phases, groups)


@dataclass(frozen=True)
class Figures:
    times: dict[str, list[float]]  # label -> latencies (ms) of runs one after another
    rates: dict[str, float]  # label -> runs/s, many at once
    rebalances: list[float]  # ms per rebalance, one after another
    phases: dict[str, float]  # place_order's phases: label -> p50 ms
    groups: dict[str, float]  # the phases summed by where the time goes: label -> p50 ms


def keys(args: argparse.Namespace, figures: Figures) -> dict[str, Any]:
    """The figures the issue tracks, by name (see the module's docstring)."""
    found: dict[str, Any] = {}
    times, rates = figures.times, figures.rates
    if times:
        empty, chain, order = "empty workflow (baseline)", "5 empty tasks in a chain", "place_order"
        found |= {
            "empty_p50_ms": round(percentile(times[empty], 50), 1),
            "empty_runs_per_s": round(rates[empty], 1),
            "chain_p50_ms": round(percentile(times[chain], 50), 1),
            "place_order_p50_ms": round(percentile(times[order], 50), 1),
            "place_order_p99_ms": round(percentile(times[order], 99), 1),
            "place_order_runs_per_s": round(rates[order], 1),
            "concurrency": args.concurrency,
            "runs": args.runs,
        }
    if figures.rebalances:
        found |= {
            "rebalance_legs": args.legs,
            "rebalance_p50_ms": round(percentile(figures.rebalances, 50), 1),
            "rebalance_max_ms": round(max(figures.rebalances), 1),
            "rebalances": len(figures.rebalances),
        }
    if figures.phases:
        found |= {
            "breakdown_runs": args.breakdown,
            "breakdown_phases_ms": {label: round(value, 1) for label, value in figures.phases.items()},
            "breakdown_ms": {label: round(value, 1) for label, value in figures.groups.items()},
        }
    return found


def table(args: argparse.Namespace, figures: Figures) -> Table:
    times, rates = figures.times, figures.rates
    base = "empty workflow (baseline)"
    table = Table(
        "workflow",
        "p50 (ms)",
        "p99 (ms)",
        f"runs/s ({args.concurrency} at a time)",
        "p50 / baseline",
        "runs/s / baseline",
        title=f"Workflows on this machine: {args.runs} runs one after another, {args.burst} at once",
    )
    for label in times:
        p50 = percentile(times[label], 50)
        table.add_row(
            label,
            f"{p50:.1f}",
            f"{percentile(times[label], 99):.1f}",
            f"{rates[label]:.1f}",
            f"{p50 / percentile(times[base], 50):.2f}",
            f"{rates[label] / rates[base]:.2f}",
        )
    rebalances = figures.rebalances
    if rebalances:
        table.add_row(
            f"portfolio.rebalance, {args.legs} legs ({len(rebalances)} runs)",
            f"{percentile(rebalances, 50):.1f}",
            f"{max(rebalances):.1f} (max)",
            "-",
            "-",
            "-",
        )
    return table


async def run(args: argparse.Namespace, workdir: Path, console: Console) -> None:
    settings = load_settings().model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings, settings.topic_prefix)
    figures = await measure(args, settings, workdir, console)
    if figures.times or figures.rebalances:
        console.print(table(args, figures))
    if figures.phases:
        console.print(breakdown_table(args.breakdown, figures.phases, figures.groups))
    if args.json:
        print(json.dumps(keys(args, figures)))
    console.print(
        "place_order (one task): trigger -> validate_risk -> create_order (Redis) -> bridge -> Kafka -> "
        "risk, router, execution agents -> bridge -> route_exchange / execute_order (Redis) -> "
        "update_positions -> result"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="sequential runs per workflow (latency)")
    parser.add_argument("--burst", type=int, default=200, help="runs per workflow for runs/s")
    parser.add_argument("--concurrency", type=int, default=50, help="runs at a time for runs/s")
    parser.add_argument("--slots", type=int, default=100, help="workflow worker slots")
    parser.add_argument("--web-port", type=int, default=6068)
    parser.add_argument("--legs", type=int, default=50, help="legs of each measured rebalance")
    parser.add_argument("--rebalances", type=int, default=5, help="rebalances measured, one after another")
    parser.add_argument("--breakdown", type=int, default=30, help="place_order runs timed phase by phase")
    parser.add_argument("--only", action="append", choices=PARTS, help="measure only these parts")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout; the table on stderr")
    args = parser.parse_args()
    args.only = tuple(args.only or PARTS)
    # A namespace of our own on the shared engine; no cron schedule of the monitor left behind.
    os.environ["HATCHET_CLIENT_NAMESPACE"] = f"bench_{uuid.uuid4().hex[:8]}"
    os.environ["ZVT_MONITOR_CRON"] = ""
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench-workflows"))
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir, Console(stderr=args.json)))


if __name__ == "__main__":
    main()
