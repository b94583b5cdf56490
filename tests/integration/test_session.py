"""`zvt session` end to end on a slice of the bundled sample: the report, the chart, and each strategy's
PnL checked against an independent recomputation from the fills stored in the event store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from runtime.clients import kafka_options
from runtime.settings import REPO_ROOT, Settings
from topics import Topics

from .metrics import label_values, scrape_metrics
from .sessions import fresh_sample_files, run_session, session_command

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return fresh_sample_files(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory, sample_files: list[str]) -> Path:
    return run_session(tmp_path_factory.mktemp("session"), sample_files, "1")


def test_the_same_data_twice_gives_identical_fills_and_pnl(
    report_dir: Path, sample_files: list[str], tmp_path: Path
) -> None:
    """Market time drives the strategies and the paper venue, not the wall clock: a second session on the
    same files, replayed at full speed instead of recorded speed, fills the same orders the same way, the
    rebalance's too."""
    first = json.loads((report_dir / "session.json").read_text())
    again = json.loads((run_session(tmp_path, sample_files, "max") / "session.json").read_text())
    assert first["topic_prefix"] != again["topic_prefix"]  # two sessions, on topics of their own
    assert sorted(again["fills"], key=orjson.dumps) == sorted(first["fills"], key=orjson.dumps)
    assert again["orders"] == first["orders"]
    assert again["pnl"] == first["pnl"]
    assert again["total_net_pnl"] == first["total_net_pnl"]
    assert again["rebalance"]["status"] == first["rebalance"]["status"] == "completed"


def test_the_whole_sample_twice_at_full_speed_gives_identical_fills_and_pnl(
    sample_files: list[str], tmp_path: Path
) -> None:
    """All 12,941 ticks of the bundled sample, twice, as fast as the pipeline takes them: the outcome is a
    function of the data. No order is refused for open orders: a paper fill is applied to the account's
    risk state before its next request is judged, however far behind the fills' topic is."""
    runs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        report = run_session(tmp_path / name, sample_files, "max", "--no-rebalance", limit=None)
        runs.append(json.loads((report / "session.json").read_text()))
    first, again = runs
    assert first["orders"]["requested"] > 300  # the larger sample: several times the 3,000-tick sessions'
    assert sorted(again["fills"], key=orjson.dumps) == sorted(first["fills"], key=orjson.dumps)
    assert again["orders"] == first["orders"]
    assert again["pnl"] == first["pnl"]
    assert again["total_net_pnl"] == first["total_net_pnl"]
    for run in runs:
        assert "max_open_orders" not in run["orders"]["rejections_by_reason"]
        assert "order_rate" not in run["orders"]["rejections_by_reason"]


def test_the_paper_engines_took_no_input_late_in_a_replay(report_dir: Path) -> None:
    """With truthful watermarks every input reaches its engine before the market time it is matched at:
    `zvt_paper_late_inputs_total{kind="late"}`, read from the worker's metrics once the session drained,
    stays 0 (a late input's outcome would depend on arrival)."""
    report = json.loads((report_dir / "session.json").read_text())
    assert report["paper_late_inputs"] == 0  # None: the worker's metrics were not read


def test_the_report_and_chart_are_written(report_dir: Path) -> None:
    report = json.loads((report_dir / "session.json").read_text())
    assert report["orders"]["requested"] > 0
    assert report["fill_event_ids"], "the example strategies filled nothing on the sample"
    assert report["stored_fills"] == len(report["fill_event_ids"])
    chart = (report_dir / "equity.png").read_bytes()
    assert chart.startswith(PNG_SIGNATURE)
    assert len(chart) > 10_000
    # performance analytics for every strategy that filled, and in total, on the page too
    analytics = report["analytics"]["by_strategy"]
    assert {line["strategy_id"] for line in report["pnl"]} <= set(analytics)
    assert all(figures["periods"] > 0 for figures in analytics.values())
    page = (report_dir / "session.html").read_text()
    for name in analytics:
        assert f"<td>{name}</td>" in page


def test_one_rebalance_ran_through_the_workflows_and_filled(report_dir: Path) -> None:
    """Hatchet -> Redis -> bridge -> Kafka -> agents -> back: each leg an order of the rebalance's account."""
    report = json.loads((report_dir / "session.json").read_text())
    rebalance = report["rebalance"]
    assert rebalance["status"] == "completed", rebalance
    legs = {outcome["leg"]["order_id"] for outcome in rebalance["outcomes"]}
    assert {"BTC/USDT", "ETH/USDT"} == {o["leg"]["order"]["symbol"] for o in rebalance["outcomes"]}
    filled = {fill["order_id"] for fill in report["fills"] if fill["account_id"] == "acct-session-rebalance"}
    assert filled == legs
    assert any(line["account_id"] == "acct-session-rebalance" for line in report["pnl"])


async def test_pnl_equals_a_recomputation_from_the_event_store(report_dir: Path, settings: Settings) -> None:
    """The fills are read back from `event_store` (this session's `order.executed` rows), and each
    strategy's PnL is recomputed from them as cash flow: what it paid and received, less fees, plus what it
    holds at the report's mark. No average cost, no division: equal to the last Decimal digit."""
    report = json.loads((report_dir / "session.json").read_text())
    connection = await asyncpg.connect(settings.postgres_url())
    try:
        rows = await connection.fetch(
            "SELECT event_data FROM event_store WHERE event_type = 'order.executed'"
            " AND metadata->>'topic' = $1 ORDER BY position",
            Topics.ORDERS_EXECUTED.full_name(report["topic_prefix"]),
        )
    finally:
        await connection.close()
    assert sorted(str(orjson.loads(row["event_data"])["event_id"]) for row in rows) == sorted(
        report["fill_event_ids"]
    )
    held: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    cash: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    fees: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        fill = orjson.loads(row["event_data"])
        key = (fill["strategy_id"], fill["account_id"], fill["symbol"])
        signed = Decimal(fill["fill_quantity"]) * (1 if fill["side"] == "buy" else -1)
        held[key] += signed
        cash[key] -= signed * Decimal(fill["fill_price"])
        fees[key] += Decimal(fill["fee"])
    reported = {(line["strategy_id"], line["account_id"], line["symbol"]): line for line in report["pnl"]}
    assert set(reported) == set(held)
    assert len(held) >= 4  # the three example strategies and the rebalance
    for key in held:
        line = reported[key]
        mark = Decimal(line["mark"])
        assert Decimal(line["quantity"]) == held[key], key
        assert Decimal(line["fees"]) == fees[key], key
        assert Decimal(line["net_pnl"]) == cash[key] + held[key] * mark - fees[key], key  # exact: no rounding
    total = sum((cash[k] + held[k] * Decimal(reported[k]["mark"]) - fees[k] for k in held), Decimal(0))
    assert Decimal(report["total_net_pnl"]) == total


def test_every_fill_is_at_a_price_and_size_the_recorded_book_showed(
    report_dir: Path, sample_files: list[str]
) -> None:
    """`zvt audit` on the session, from its report and from the event store: each fill against the
    recorded market in force when its order reached the venue (its market time plus the paper venue's
    latency), read from the CSV files by the replay's readers: a buy at the ask, a sell at the bid, never
    more than the size shown there, never on a book older than `max_book_age`."""
    report = json.loads((report_dir / "session.json").read_text())
    assert report["fills"]
    assert_fills_at_the_recorded_book(report_dir, sample_files)
    printed = zvt_audit("--prefix", report["topic_prefix"], *sample_files)
    assert f"{len(report['fills'])} fills audited" in printed


def zvt_audit(*arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zvt", "audit", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=300,
        env=os.environ | {"COLUMNS": "200"},
    )
    printed = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, printed[-5000:]
    return printed


def assert_fills_at_the_recorded_book(directory: Path, sample_files: list[str]) -> None:
    report = json.loads((directory / "session.json").read_text())
    printed = zvt_audit("--report", str(directory / "session.json"), *sample_files)
    assert f"{len(report['fills'])} fills audited" in printed


def agent_workers(session_pid: int) -> list[int]:
    """The session's `zvt worker` children (not the workflow worker, the sink or the bridge)."""
    children = Path(f"/proc/{session_pid}/task/{session_pid}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2:4] == [b"zvt", b"worker"]
    ]


def web_port(pid: int) -> int:
    """A worker's web monitor port, from its environment."""
    variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(dict(v.decode().split("=", 1) for v in variables if b"=" in v)["ZVT_WEB_PORT"])


async def worker_holding_the_ticks(settings: Settings, prefix: str, workers: list[int]) -> int:
    """Of the agent workers, the one assigned most of the tick partitions that carry the replay (its
    `zvt_consumer_lag` partitions on its web port): killing it kills the market data and strategies of a
    traded symbol, not only some order partitions. The gauges are sampled every few seconds and are empty
    while the group rebalances, so they are read until one worker reports a tick partition."""
    ticks = [
        TopicPartition(Topics.MARKET_TICKS.full_name(prefix), p)
        for p in range(Topics.MARKET_TICKS.partitions)
    ]
    consumer = AIOKafkaConsumer(**kafka_options(settings))
    await consumer.start()
    try:
        busy = {str(tp.partition) for tp, end in (await consumer.end_offsets(ticks)).items() if end > 0}
    finally:
        await consumer.stop()
    while True:
        held = {}
        for pid in workers:
            samples = await scrape_metrics(web_port(pid))
            lags = label_values(samples, "zvt_consumer_lag", "topic", "partition")
            held[pid] = len({p for topic, p in lags if topic == Topics.MARKET_TICKS.name} & busy)
        pid = max(held, key=held.__getitem__)
        if held[pid] > 0:
            return pid
        await asyncio.sleep(0.5)  # the caller's timeout bounds the wait


async def topic_names(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def new_session_fills_topic(settings: Settings, before: set[str]) -> str:
    """The fills topic of the session started after `before` was listed."""
    suffix = Topics.ORDERS_EXECUTED.name
    while True:
        fresh = [
            n for n in await topic_names(settings) - before if n.startswith("session-") and n.endswith(suffix)
        ]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.2)


async def wait_for_fills(settings: Settings, topic: str, count: int) -> int:
    """Until `count` fills are on `topic`; returns how many there were."""
    consumer = AIOKafkaConsumer(
        topic, **kafka_options(settings), auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: set[bytes] = set()
    try:
        while len(seen) < count:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.update(orjson.loads(r.value or b"{}")["event_id"].encode() for r in records)
        return len(seen)
    finally:
        await consumer.stop()


async def test_two_workers_one_killed_mid_session_lose_and_double_no_order(
    report_dir: Path, sample_files: list[str], tmp_path: Path, settings: Settings
) -> None:
    """Scale-out under failure: two agent workers share the partitions; once a third of the fills are out,
    the one holding the replay's tick partitions is SIGKILLed, and the survivor takes over its partitions
    (tables from their changelogs, ticks from the last commit, whose prices it publishes again). No order
    is lost (each has one outcome) or doubled (one outcome, never filled past its quantity, every fill
    once in the event store), every fill is still at the recorded book, the rebalance completes, and the
    fills and PnL are those of the undisturbed session."""
    reference = json.loads((report_dir / "session.json").read_text())
    before = await topic_names(settings)
    log = tmp_path / "session.out"
    with log.open("wb") as out:
        session = await asyncio.create_subprocess_exec(
            *session_command(tmp_path, sample_files, "1", "--workers", "2"),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stuck session is killed with its children
        )
        try:
            async with asyncio.timeout(240):
                topic = await new_session_fills_topic(settings, before)
                # The workers start once the session's topics and their ACLs are in place.
                while len(workers := agent_workers(session.pid)) < 2:  # noqa: ASYNC110  (children, not an event)
                    await asyncio.sleep(0.2)
                assert len(workers) == 2, workers
                seen = await wait_for_fills(settings, topic, len(reference["fills"]) // 3)
                prefix = topic.removesuffix(Topics.ORDERS_EXECUTED.name)
                os.kill(await worker_holding_the_ticks(settings, prefix, workers), signal.SIGKILL)
                await session.wait()
        finally:
            if session.returncode is None:
                os.killpg(session.pid, signal.SIGKILL)
                await session.wait()
    assert session.returncode == 0, log.read_text()[-3000:]
    assert seen < len(reference["fills"])  # killed mid-session, not after it
    report = json.loads((tmp_path / "session.json").read_text())
    orders = report["orders"]
    # Without an outcome: only the grid's orders still resting on the engine at the end, as undisturbed.
    assert orders["without_outcome"] == reference["orders"]["without_outcome"]
    assert all(order_id.startswith("grid-") for order_id in orders["without_outcome"])
    assert (orders["outcome_twice"], orders["overfilled"]) == ([], [])
    ended = orders["filled"] + orders["canceled"] + orders["expired"] + orders["rejected"]
    assert orders["requested"] == ended + len(orders["without_outcome"])
    assert len(set(report["fill_event_ids"])) == len(report["fill_event_ids"]) == report["stored_fills"]
    assert_fills_at_the_recorded_book(tmp_path, sample_files)
    assert report["rebalance"]["status"] == "completed"
    # Recovery is deterministic too: the takeover rebuilt the market data state from the tick log and the
    # strategies' from their changelog, so the session traded exactly as the undisturbed one.
    assert sorted(report["fills"], key=orjson.dumps) == sorted(reference["fills"], key=orjson.dumps)
    assert report["pnl"] == reference["pnl"]
