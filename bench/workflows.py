"""place_order workflow latency and throughput beside an empty one-task workflow, in one run.

`python -m bench.workflows`.
Starts, on fresh topics, streams and a Hatchet namespace of its own: the agents (`zvt worker`), the bridge
and a workflow worker. Then, for the empty workflow (`zvt.noop`, the baseline: the engine's own trigger ->
run -> result round trip) and for `trading.place_order` (five tasks, the order through Redis, the bridge,
Kafka and the agents and back): latency p50/p99 of runs one after another, and runs/s with many at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.pipeline import CONFIG, books
from topics.admin import ensure_topics
from zvt.processes import background_process
from zvt.session_report import percentile
from zvt.settings import Settings, load_settings

ACCOUNTS = 24


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


async def serving(name: str) -> None:
    from hatchet_workflows.noop.workflow import noop_chain_workflow, noop_workflow
    from hatchet_workflows.place_order.workflow import place_order_workflow
    from hatchet_workflows.worker import wait_for_worker_serving

    async with asyncio.timeout(90):
        for workflow in (noop_workflow, noop_chain_workflow, place_order_workflow):
            await wait_for_worker_serving(workflow, worker_name=name)


async def measure(args: argparse.Namespace, settings: Settings, workdir: Path, console: Console) -> Table:
    from hatchet_workflows.worker import worker_command
    from zvt.demo import wait_for_books

    config = workdir / "trading.toml"
    config.write_text(CONFIG)
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_TRADING_CONFIG": str(config),
        "ZVT_WEB_PORT": str(args.web_port),
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
        async with asyncio.timeout(90):
            await wait_for_books(args.web_port, {"binance:BTC/USDT"})
        await serving(name)
        runs = runners()
        for run in runs.values():
            await latencies(run, 3)  # warm connections and listeners
        console.print(f"measuring {args.runs} runs one after another, then {args.burst} at once, each...")
        times = {label: await latencies(run, args.runs) for label, run in runs.items()}
        rates = {label: await throughput(run, args.burst, args.concurrency) for label, run in runs.items()}
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
    for label in runs:
        p50 = percentile(times[label], 50)
        table.add_row(
            label,
            f"{p50:.1f}",
            f"{percentile(times[label], 99):.1f}",
            f"{rates[label]:.1f}",
            f"{p50 / percentile(times[base], 50):.2f}",
            f"{rates[label] / rates[base]:.2f}",
        )
    return table


async def run(args: argparse.Namespace, workdir: Path, console: Console) -> None:
    settings = load_settings().model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings, settings.topic_prefix)
    console.print(await measure(args, settings, workdir, console))
    console.print(
        "place_order: trigger -> validate_risk -> create_order (Redis) -> bridge -> Kafka -> risk, router, "
        "execution agents -> bridge -> route_exchange / execute_order (Redis) -> update_positions -> result"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="sequential runs per workflow (latency)")
    parser.add_argument("--burst", type=int, default=200, help="runs per workflow for runs/s")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--slots", type=int, default=100, help="workflow worker slots")
    parser.add_argument("--web-port", type=int, default=6068)
    args = parser.parse_args()
    # A namespace of our own on the shared engine; no cron schedule of the monitor left behind.
    os.environ["HATCHET_CLIENT_NAMESPACE"] = f"bench_{uuid.uuid4().hex[:8]}"
    os.environ["ZVT_MONITOR_CRON"] = ""
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench-workflows"))
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir, Console()))


if __name__ == "__main__":
    main()
