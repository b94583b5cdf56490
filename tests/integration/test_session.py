"""`zvt session` end to end on a slice of the bundled sample: the report, the chart, and each strategy's
PnL checked against an independent recomputation from the fills stored in the event store."""

from __future__ import annotations

import bisect
import csv
import json
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest

from agents.settings import get_trading_config
from topics import Topics
from zvt.session import DEFAULT_FILES
from zvt.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SESSION = [sys.executable, "-m", "zvt", "session"]


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("sample")
    # Tick ids follow from file name and row: files named for this run give events no earlier run stored.
    run = uuid.uuid4().hex[:8]
    files = []
    for path in DEFAULT_FILES:
        copy = directory / f"{run}-{path.name}"
        shutil.copyfile(path, copy)
        files.append(str(copy))
    return files


def run_session(directory: Path, files: list[str], speed: str) -> Path:
    log = directory / "session.out"
    with log.open("wb") as out:
        done = subprocess.run(
            [*SESSION, "--speed", speed, "--limit", "3000", "--report-dir", str(directory), *files],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert done.returncode == 0, log.read_text()[-3000:]
    assert "Hatchet dashboard" in log.read_text()
    return directory


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


def test_the_report_and_chart_are_written(report_dir: Path) -> None:
    report = json.loads((report_dir / "session.json").read_text())
    assert report["orders"]["requested"] > 0
    assert report["fill_event_ids"], "the example strategies filled nothing on the sample"
    assert report["stored_fills"] == len(report["fill_event_ids"])
    chart = (report_dir / "equity.png").read_bytes()
    assert chart.startswith(PNG_SIGNATURE)
    assert len(chart) > 10_000


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
    connection = await asyncpg.connect(settings.postgres_dsn)
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


def receive_micros(nanoseconds: str) -> int:
    """A recorded receive time in microseconds, rounded half to even like the replay's market time."""
    micros, rest = divmod(int(nanoseconds), 1000)
    return micros + (rest > 500 or (rest == 500 and micros % 2 == 1))


def recorded_tops(files: list[str]) -> dict[str, tuple[list[int], list[dict[str, str]]]]:
    """Per symbol, the book tops the collector recorded, in file order, and their times."""
    tops: dict[str, tuple[list[int], list[dict[str, str]]]] = {}
    for path in files:
        if "bookticker" not in path:
            continue
        with open(path, newline="") as lines:
            for row in csv.DictReader(lines):
                symbol = f"{row['symbol'][:-4]}/{row['symbol'][-4:]}"  # BTCUSDT -> BTC/USDT
                times, rows = tops.setdefault(symbol, ([], []))
                times.append(receive_micros(row["local_ts_ns"]))
                rows.append(row)
    return tops


def test_every_fill_is_at_a_price_and_size_the_recorded_book_showed(
    report_dir: Path, sample_files: list[str]
) -> None:
    """Each fill against the recorded book top in force when its order reached the venue (its market time
    plus the paper venue's latency), read straight from the CSV files: a buy at the ask, a sell at the bid,
    never more than the size shown there."""
    report = json.loads((report_dir / "session.json").read_text())
    latency = int(get_trading_config().paper.latency_ms * 1000)  # microseconds
    tops = recorded_tops(sample_files)
    assert report["fills"]
    for fill in report["fills"]:
        at = datetime.fromisoformat(fill["order_market_time"])
        reached = (at - EPOCH) // timedelta(microseconds=1) + latency
        times, rows = tops[fill["symbol"]]
        index = bisect.bisect_right(times, reached) - 1
        assert index >= 0, fill
        top = rows[index]
        side = "ask" if fill["side"] == "buy" else "bid"
        price, size = top[f"{side}_price"], top[f"{side}_qty"]
        assert Decimal(fill["price"]) == Decimal(price), (fill, top)
        assert Decimal(fill["quantity"]) <= Decimal(size), (fill, top)
