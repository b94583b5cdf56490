"""`zvt session`: a short trading session end to end on a running stack, then its report.

On fresh topics (a new `session-<hex>.` prefix, so runs never mix), starts the agent worker with the
example strategies and the event store's sink as background processes, replays recorded market data into
the tick topic, reads every order-flow event back from Kafka until the pipeline has been quiet for a few
seconds, waits until the sink has stored every fill, and computes the figures (`zvt.session_report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from schemas import CODEC, Event, OrderExecuted, PositionUpdated
from topics import Topics
from zvt.demo import wait_for_books
from zvt.processes import background_process, free_port
from zvt.replay_market import replay_market
from zvt.session_report import SessionFigures, session_figures
from zvt.settings import REPO_ROOT, Settings

SAMPLE_DIR = REPO_ROOT / "data" / "sample"
# One minute of binance BTC/USDT and ETH/USDT (2024-08-08): the venue and symbols the example strategies
# trade. The sample's other files are years apart and on other venues.
DEFAULT_FILES = tuple(
    sorted(SAMPLE_DIR.glob("binance_spot_*_2024*.csv")),
)
STRATEGIES_CONFIG = REPO_ROOT / "config" / "strategies.toml"
COLLECTED = (
    Topics.PRICES,
    Topics.ORDERS_REQUESTED,
    Topics.ORDERS_VALIDATED,
    Topics.ORDERS_REJECTED,
    Topics.ORDERS_ROUTED,
    Topics.ORDERS_EXECUTED,
    Topics.POSITIONS,
)


@dataclass
class Collected:
    events: list[Event] = field(default_factory=list)
    last_new: float = field(default_factory=time.monotonic)  # when the pipeline last produced news
    fills: set[str] = field(default_factory=set)
    positioned: set[str] = field(default_factory=set)


async def _collect(settings: Settings, collected: Collected) -> None:
    """Every event of the session's topics, from the beginning; a position re-mark is not news."""
    consumer = AIOKafkaConsumer(
        *(t.full_name(settings.topic_prefix) for t in COLLECTED),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = CODEC.decode(record.value or b"")
                    collected.events.append(event)
                    if isinstance(event, PositionUpdated):
                        fill = event.last_fill_id
                        if fill is None or fill in collected.positioned:
                            continue
                        collected.positioned.add(fill)
                    elif isinstance(event, OrderExecuted):
                        collected.fills.add(event.fill_id)
                    collected.last_new = time.monotonic()
    finally:
        await consumer.stop()


async def _wait_quiet(collected: Collected, quiet: float) -> None:
    """Until nothing new for `quiet` seconds and every fill's position update has arrived."""

    def busy() -> bool:
        return time.monotonic() - collected.last_new < quiet or not collected.fills <= collected.positioned

    while busy():  # noqa: ASYNC110 - a clock and another task's collections, not an event
        await asyncio.sleep(0.2)


async def stored_fills(settings: Settings, event_ids: Sequence[str]) -> int:
    connection = await asyncpg.connect(settings.postgres_dsn)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM event_store"
            " WHERE event_type = 'order.executed' AND event_id = ANY($1::uuid[])",
            list(event_ids),
        )
        return int(count)
    finally:
        await connection.close()


async def _wait_stored(settings: Settings, event_ids: Sequence[str]) -> int:
    while (stored := await stored_fills(settings, event_ids)) < len(event_ids):  # noqa: ASYNC110 - a database
        await asyncio.sleep(0.5)
    return stored


@dataclass
class SessionRun:
    figures: SessionFigures
    web_port: int
    replayed: int
    stored_fills: int
    timed_out: bool


async def run_session(
    settings: Settings,
    *,
    files: Sequence[Path] = DEFAULT_FILES,
    speed: float | None = None,
    limit: int | None = None,
    quiet: float = 5.0,
    within: float = 240.0,
    web_port: int | None = None,
    log_dir: Path = Path(".run/session"),
) -> SessionRun:
    """Run one session on a fresh topic prefix; `settings.topic_prefix` is replaced."""
    from topics.admin import ensure_topics

    prefix = f"session-{uuid.uuid4().hex[:8]}."
    settings = settings.model_copy(update={"topic_prefix": prefix})
    port = web_port or free_port()
    await ensure_topics(settings.kafka_bootstrap, prefix)
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": prefix,
        "ZVT_WEB_PORT": str(port),
        "ZVT_STRATEGIES_CONFIG": os.environ.get("ZVT_STRATEGIES_CONFIG", str(STRATEGIES_CONFIG)),
        "ZVT_SINK_METRICS_PORT": "0",
    }
    log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    collected = Collected()
    timed_out = False
    replayed = 0
    stored = 0
    worker = [sys.executable, "-m", "zvt", "worker"]
    sink = [sys.executable, "-m", "zvt", "sink"]
    with (
        background_process(worker, env=env, log_path=log_dir / "worker.log", stop_timeout=60),
        background_process(sink, env=env, log_path=log_dir / "sink.log", stop_timeout=60),
    ):
        collector = asyncio.create_task(_collect(settings, collected))
        try:
            async with asyncio.timeout(within):
                await wait_for_books(port, set())  # the web monitor answers
                stats = await replay_market(settings, files, speed, limit=limit)
                replayed = stats.events
                collected.last_new = time.monotonic()
                await _wait_quiet(collected, quiet)
                figures = session_figures(prefix, collected.events)
                stored = await _wait_stored(settings, figures.fill_event_ids)
        except TimeoutError:
            timed_out = True
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
    figures = session_figures(prefix, collected.events)
    if timed_out:
        stored = await stored_fills(settings, figures.fill_event_ids)
    figures.extra = {
        "replayed_ticks": replayed,
        "stored_fills": stored,
        "timed_out": timed_out,
        "files": [path.name for path in files],
    }
    return SessionRun(figures, port, replayed, stored, timed_out)


def print_session(console: Console, run: SessionRun, settings: Settings) -> None:
    figures = run.figures
    orders = Table("requested", "filled", "canceled", "rejected", "rejections by reason", title="Orders")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(figures.rejected.items()))
    orders.add_row(
        str(figures.requested),
        str(figures.filled),
        str(figures.canceled),
        str(sum(figures.rejected.values())),
        reasons or "-",
    )
    console.print(orders)
    pnl = Table(
        "strategy", "account", "symbol", "fills", "position", "realized", "unrealized", "fees", "net PnL",
        title="PnL (fills through trading.positions, marked at the venue's last price)",
    )  # fmt: skip
    for line in figures.pnl:
        p = line.position
        pnl.add_row(
            line.strategy_id,
            line.account_id,
            line.symbol,
            str(line.fills),
            str(p.quantity),
            f"{p.realized_pnl:.6f}",
            f"{p.unrealized_pnl(line.mark):.6f}",
            f"{p.fees_paid:.6f}",
            f"{p.net_pnl(line.mark):.6f}",
        )
    console.print(pnl)
    latency = Table("step", "orders", "p50 ms", "p90 ms", "p99 ms", "max ms", title="Latency per step")
    for step, values in figures.latency_ms.items():
        cells = [f"{values[k]:.1f}" if k in values else "-" for k in ("p50", "p90", "p99", "max")]
        latency.add_row(step, str(int(values["count"])), *cells)
    console.print(latency)
    console.print(
        f"{run.replayed} ticks replayed, {figures.prices} prices, {len(figures.fill_event_ids)} fills "
        f"({run.stored_fills} in the event store) on topics {figures.prefix}*"
    )
    console.print(f"Faust web monitor (while it ran): http://127.0.0.1:{run.web_port}/ (/zvt/market/)")
    console.print(f"Hatchet dashboard: {settings.hatchet_dashboard_url}")
