"""`zvt session`: a short trading session end to end on a running stack, then its report.

On fresh topics and Redis streams (a new `session-<hex>.` prefix) and a Hatchet namespace of its own, so
runs never mix, it starts every process of the desk in the background: the agent worker with the example
strategies, the event store's sink, the Redis bridge and a workflow worker. It replays recorded market data
into the tick topic, waits until the pipeline has been quiet for a few seconds, then runs one portfolio
rebalance through Hatchet at the replay's last market time, waits again, waits until the sink has stored
every fill, and computes the figures (`reports.session`) from every order-flow event read back from Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from agents.settings import get_agent_settings
from reports.session import TOTAL, SessionFigures, session_figures
from runtime.clients import kafka_options
from runtime.processes import background_process, free_port
from runtime.settings import REPO_ROOT, Settings
from schemas import Event, EventDecodeError, OrderExecuted, PositionUpdated, PriceUpdated
from schemas.signing import SignatureError, verified_event
from strategies.config import StrategiesConfig
from strategies.runner import Roster
from topics import Topics
from topics.admin import delete_prefixed_topics, ensure_topics, group_lag
from topics.registry import agent_groups
from trading.analytics import Basis
from zvt.demo import wait_for_books
from zvt.replay_market import replay_market

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hatchet_workflows.rebalance.models import RebalanceInput, RebalanceResult

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
    Topics.ORDERS_CANCELED,
    Topics.POSITIONS,
)
WORKFLOW_WORKER = "zvt-session-workflows"
HATCHET_NAMESPACE_ENV = "HATCHET_CLIENT_NAMESPACE"


@dataclass(frozen=True)
class SessionRebalance:
    """The session's portfolio rebalance: an account of its own puts `cash` into `target_weights` at the
    last prices of the replay, decided (and filled by the paper venue) at its last market time, so the same
    data gives the same orders and fills."""

    portfolio_id: str = "session-portfolio"
    account_id: str = "acct-session-rebalance"
    target_weights: Mapping[str, Decimal] = field(
        default_factory=lambda: {"BTC/USDT": Decimal("0.5"), "ETH/USDT": Decimal("0.3")}
    )
    cash: Decimal = Decimal(20000)

    def input_at(self, last_prices: Mapping[str, PriceUpdated], run_key: str) -> RebalanceInput:
        """At the newest of the target symbols' last prices; raises LookupError when one never traded."""
        from hatchet_workflows.rebalance.models import RebalanceInput

        missing = sorted(set(self.target_weights) - set(last_prices))
        if missing:
            raise LookupError(
                f"no price for {', '.join(missing)} in the replayed data: nothing to rebalance at"
            )
        prices = {symbol: last_prices[symbol] for symbol in self.target_weights}
        return RebalanceInput(
            portfolio_id=self.portfolio_id,
            account_id=self.account_id,
            target_weights=dict(self.target_weights),
            prices={symbol: price.price for symbol, price in prices.items()},
            cash=self.cash,
            rebalance_id=run_key,
            market_time=max(price.market_time for price in prices.values()),
        )


@dataclass
class Collected:
    events: list[Event] = field(default_factory=list)
    last_new: float = field(default_factory=time.monotonic)  # when the pipeline last produced news
    last_news_at: float = 0.0  # the same, never reset by a wait
    fills: set[str] = field(default_factory=set)
    positioned: set[str] = field(default_factory=set)
    last_prices: dict[str, PriceUpdated] = field(default_factory=dict)  # symbol -> newest in market time

    def add(self, event: Event) -> None:
        """Keep `event`; a position re-mark is not news."""
        self.events.append(event)
        if isinstance(event, PositionUpdated):
            fill = event.last_fill_id
            if fill is None or fill in self.positioned:
                return
            self.positioned.add(fill)
        elif isinstance(event, OrderExecuted):
            self.fills.add(event.fill_id)
        elif isinstance(event, PriceUpdated):
            last = self.last_prices.get(event.symbol)
            if last is None or event.market_time >= last.market_time:
                self.last_prices[event.symbol] = event
        self.last_new = self.last_news_at = time.monotonic()


async def _collect(settings: Settings, collected: Collected) -> None:
    """Every event of the session's topics, from the beginning."""
    consumer = AIOKafkaConsumer(
        *(t.full_name(settings.topic_prefix) for t in COLLECTED),
        **kafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    try:
                        collected.add(verified_event(record.value, record.headers))
                    except (SignatureError, EventDecodeError) as exc:  # the event store dead-letters it
                        log.warning("%s@%s left out: %s", record.topic, record.offset, exc)
    finally:
        await consumer.stop()


def strategies_config_path() -> Path:
    """The strategies the session's workers run."""
    return Path(os.environ.get("ZVT_STRATEGIES_CONFIG", str(STRATEGIES_CONFIG)))


def session_roster(engine: bool) -> Roster:
    """The session's strategies as its workers build them (some hear of their own orders)."""
    return Roster(StrategiesConfig.from_toml(strategies_config_path()), engine=engine)


async def _wait_drained(settings: Settings, collected: Collected, quiet: float) -> None:
    """Until the agents' groups have committed past every record of the topics they read, every fill's
    position update has arrived, and nothing new has come for `quiet` seconds. The lag matters while the
    worker is still starting: then nothing comes for a while, yet the replayed ticks wait unread."""

    collected.last_new = time.monotonic()
    engine = get_agent_settings().paper_engine
    groups = agent_groups(engine, strategies_hear=engine and bool(session_roster(engine).hearing))

    async def busy() -> bool:
        if time.monotonic() - collected.last_new < quiet or not collected.fills <= collected.positioned:
            return True
        for group, topics in groups:
            if await group_lag(settings, f"{settings.topic_prefix}{group}", topics, settings.topic_prefix):
                return True
        return False

    while await busy():  # noqa: ASYNC110 - a clock, another task's collections and the broker's offsets
        await asyncio.sleep(0.5)


async def stored_fills(settings: Settings, event_ids: Sequence[str]) -> int:
    connection = await asyncpg.connect(settings.postgres_url())
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
class RebalanceRun:
    """What the session's rebalance did, or why it did not run."""

    result: RebalanceResult | None
    seconds: float
    error: str | None = None


async def _wait_for_workflow_worker() -> None:
    from hatchet_workflows.rebalance.workflow import rebalance_workflow
    from hatchet_workflows.worker import wait_for_worker_serving

    await wait_for_worker_serving(rebalance_workflow, WORKFLOW_WORKER)


async def _rebalance(spec: SessionRebalance, collected: Collected, run_key: str) -> RebalanceRun:
    from hatchet_workflows.rebalance.models import RebalanceResult
    from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow

    started = time.monotonic()
    try:
        rebalance = spec.input_at(collected.last_prices, run_key)
        raw = await rebalance_workflow.aio_run(rebalance)
    except Exception as exc:  # the run failed (its on-failure step recorded it), or had nothing to go on
        return RebalanceRun(None, time.monotonic() - started, error=str(exc).splitlines()[0][:300])
    return RebalanceRun(RebalanceResult.model_validate(raw[finish.name]), time.monotonic() - started)


@dataclass
class SessionRun:
    figures: SessionFigures
    addresses: dict[str, tuple[str, str]]  # process -> where it served, and what, while the session ran
    replayed: int
    stored_fills: int
    timed_out: bool
    rebalance: RebalanceRun | None


@dataclass(frozen=True)
class SessionProcess:
    """One background process of the session: its `zvt` command, and the port it serves on."""

    name: str
    arguments: tuple[str, ...]
    port_variable: str
    port: int
    path: str = "/metrics"
    serves: str = "Prometheus metrics"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


PAPER_INPUTS_METRIC = "zvt_paper_late_inputs_total"


def paper_inputs_counted(metrics_text: str) -> dict[str, float]:
    """From a worker's /metrics: the paper engines' inputs taken at another market time than their own,
    by kind (`late`: a watermark was wrong; `unsourced`: placed by hand), summed over venues."""
    counted: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == PAPER_INPUTS_METRIC:
                kind = sample.labels.get("kind", "")
                counted[kind] = counted.get(kind, 0.0) + sample.value
    return counted


async def _paper_inputs(processes: Sequence[SessionProcess]) -> dict[str, float] | None:
    """What every agent worker counted in `zvt_paper_late_inputs_total` once the session drained (a replay
    should count no `late` input: its outcomes would depend on arrival); None if no worker answered."""
    counted: dict[str, float] | None = None
    async with aiohttp.ClientSession() as client:
        for process in processes:
            if not process.name.startswith("worker-"):
                continue
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(f"http://127.0.0.1:{process.port}/metrics") as response:
                    text = await response.text()
                counted = counted if counted is not None else {}
                for kind, value in paper_inputs_counted(text).items():
                    counted[kind] = counted.get(kind, 0.0) + value
    return counted


def session_processes(workers: int) -> list[SessionProcess]:
    """Agent workers first (they share the topics' partitions in one consumer group), then the sink, the
    bridge and the workflow worker, each on a free port."""
    web = "/ is the Faust web monitor, /zvt/market/ the market view, /metrics the metrics"
    agents = [
        SessionProcess(f"worker-{number}", ("worker",), "ZVT_WEB_PORT", free_port(), "/", web)
        for number in range(1, workers + 1)
    ]
    return [
        *agents,
        SessionProcess("sink", ("sink",), "ZVT_SINK_METRICS_PORT", free_port()),
        SessionProcess("bridge", ("bridge",), "ZVT_BRIDGE_METRICS_PORT", free_port()),
        SessionProcess(
            "workflows",
            ("workflows", "worker", "--name", WORKFLOW_WORKER, "--slots", "20"),
            "ZVT_WORKFLOWS_METRICS_PORT",
            free_port(),
        ),
    ]


def _use_namespace(namespace: str) -> None:
    """Workflow names are global to the engine's tenant: a namespace keeps other workers' runs apart.
    It must be set before the Hatchet client is made (at the first import of the workflows)."""
    if "hatchet_workflows.client" in sys.modules and os.environ.get(HATCHET_NAMESPACE_ENV) != namespace:
        raise RuntimeError("the Hatchet client was made before the session chose its namespace")
    os.environ[HATCHET_NAMESPACE_ENV] = namespace


async def run_session(
    settings: Settings,
    *,
    files: Sequence[Path] = DEFAULT_FILES,
    speed: float | None = None,
    limit: int | None = None,
    quiet: float = 5.0,
    within: float = 240.0,
    rebalance: SessionRebalance | None = SessionRebalance(),
    keep_topics: bool = False,
    workers: int = 1,
    log_dir: Path = Path(".run/session"),
    basis: Basis | None = None,
) -> SessionRun:
    """Run one session on a fresh topic prefix; `settings.topic_prefix` is replaced."""
    run_id = uuid.uuid4().hex[:8]
    prefix = f"session-{run_id}."
    settings = settings.model_copy(update={"topic_prefix": prefix})
    if rebalance is not None:
        _use_namespace(f"session_{run_id}")
    await ensure_topics(settings, prefix)
    processes = session_processes(workers)
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": prefix,
        "ZVT_MONITOR_CRON": "",  # no cron schedule left on the engine for a namespace nobody serves later
        "ZVT_STRATEGIES_CONFIG": str(strategies_config_path()),
    }
    log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    collected = Collected()
    timed_out = False
    replayed = 0
    stored = 0
    replay_seconds: float | None = None
    rebalanced: RebalanceRun | None = None
    paper_inputs: dict[str, float] | None = None
    # The rebalance's order ids follow from the data replayed, as the strategies' do: the same session on
    # the same files places the same orders.
    replayed_data = "|".join([*(Path(f).name for f in files), str(limit)])
    run_key = f"session-{hashlib.sha256(replayed_data.encode()).hexdigest()[:12]}"
    with contextlib.ExitStack() as running:
        for process in processes:
            if process.name == "workflows" and rebalance is None:
                continue
            running.enter_context(
                background_process(
                    [sys.executable, "-m", "zvt", *process.arguments],
                    env=env | {process.port_variable: str(process.port)},
                    log_path=log_dir / f"{process.name}.log",
                    stop_timeout=60,
                )
            )
        collector = asyncio.create_task(_collect(settings, collected))
        try:
            async with asyncio.timeout(within):
                workflow_worker = asyncio.create_task(_wait_for_workflow_worker()) if rebalance else None
                await wait_for_books(processes[0].port, set())  # the first worker's web monitor answers
                replay_started = time.monotonic()
                stats = await replay_market(settings, files, speed, limit=limit)
                replayed = stats.events
                await _wait_drained(settings, collected, quiet)
                # From the first tick sent to the last event the replay caused (fill, position, price).
                replay_seconds = round(collected.last_news_at - replay_started, 2)
                if rebalance and workflow_worker:
                    await workflow_worker
                    rebalanced = await _rebalance(rebalance, collected, run_key)
                    await _wait_drained(settings, collected, quiet)
                figures = session_figures(prefix, collected.events, basis)
                stored = await _wait_stored(settings, figures.fill_event_ids)
                paper_inputs = await _paper_inputs(processes)
        except TimeoutError:
            timed_out = True
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
    figures = session_figures(prefix, collected.events, basis)
    if timed_out:
        stored = await stored_fills(settings, figures.fill_event_ids)
    if not keep_topics:  # the event store keeps every event; the broker need not keep every session's topics
        await delete_prefixed_topics(settings, prefix)
    figures.extra = {
        "replayed_ticks": replayed,
        "replay_seconds": replay_seconds,
        "stored_fills": stored,
        "timed_out": timed_out,
        "files": [path.name for path in files],
        "topics_kept": keep_topics,
        "rebalance": _rebalance_json(rebalanced),
        # The paper engines' inputs taken at another market time than their own (ZVT_PAPER_ENGINE).
        # None: no worker's metrics were read (the session timed out, or no worker answered).
        "paper_late_inputs": None if paper_inputs is None else paper_inputs.get("late", 0.0),
        "paper_unsourced_inputs": None if paper_inputs is None else paper_inputs.get("unsourced", 0.0),
    }
    addresses = {process.name: (process.address, process.serves) for process in processes}
    addresses["Hatchet"] = (settings.hatchet_dashboard_url, f"the dashboard; namespace session_{run_id}")
    return SessionRun(figures, addresses, replayed, stored, timed_out, rebalanced)


def _rebalance_json(run: RebalanceRun | None) -> dict[str, object] | None:
    if run is None:
        return None
    if run.result is None:
        return {"status": "failed", "error": run.error, "seconds": round(run.seconds, 3)}
    return {
        "seconds": round(run.seconds, 3),
        "status": run.result.event.status.value,
        **run.result.model_dump(mode="json"),
    }


def print_session(console: Console, run: SessionRun) -> None:
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
    for problem, order_ids in (
        ("without an outcome", figures.without_outcome),
        ("with two outcomes", figures.outcome_twice),
        ("filled past their quantity", figures.overfilled),
    ):
        if order_ids:
            console.print(f"[red]{len(order_ids)} orders {problem}:[/red] {', '.join(order_ids[:10])}")
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
    console.print(analytics_table(figures))
    latency = Table("step", "orders", "p50 ms", "p90 ms", "p99 ms", "max ms", title="Latency per step")
    for step, values in figures.latency_ms.items():
        cells = [f"{values[k]:.1f}" if k in values else "-" for k in ("p50", "p90", "p99", "max")]
        latency.add_row(step, str(int(values["count"])), *cells)
    console.print(latency)
    console.print(
        f"{run.replayed} ticks replayed, {figures.prices} prices, {len(figures.fill_event_ids)} fills "
        f"({run.stored_fills} in the event store) on topics {figures.prefix}*"
        + ("" if figures.extra.get("topics_kept") else " (deleted at the end; --keep-topics keeps them)")
    )
    if (seconds := figures.extra.get("replay_seconds")) is not None:
        console.print(f"The replay went through the pipeline in {seconds} s (first tick sent to last event).")
    if run.rebalance is not None:
        console.print(rebalance_table(run.rebalance))
    addresses = Table("process", "address", "serves", title="Where to look (while the session ran)")
    for name, (address, serves) in run.addresses.items():
        addresses.add_row(name, address, serves)
    console.print(addresses)


def analytics_table(figures: SessionFigures) -> Table:
    basis = figures.basis
    table = Table(
        "strategy", "return", "Sharpe", "Sortino", "max drawdown", "drawdown s", "win rate", "turnover",
        "fees",
        title=f"Performance (capital {basis.capital} per strategy, returns every "
        f"{basis.period.total_seconds():g} s of market time, annualised)",
    )  # fmt: skip
    for name in sorted(figures.analytics, key=lambda name: (name == TOTAL, name)):
        f = figures.analytics[name].as_json()
        table.add_row(
            name, *(str(f[key] if f[key] is not None else "-") for key in (
                "total_return", "sharpe", "sortino", "max_drawdown", "max_drawdown_duration_seconds",
                "win_rate", "turnover", "fees",
            ))
        )  # fmt: skip
    return table


def rebalance_table(run: RebalanceRun) -> Table:
    """The rebalance workflow's legs and outcome (the trigger's own table), or why it did not run."""
    from hatchet_workflows.rebalance.trigger import result_table

    if run.result is None:
        table = Table("workflow", "outcome", title="Rebalance")
        table.add_row("portfolio.rebalance", f"[red]failed[/red]: {run.error}")
        return table
    table = result_table(run.result)
    table.caption = f"portfolio.rebalance through Hatchet, {run.seconds:.1f} s"
    return table
