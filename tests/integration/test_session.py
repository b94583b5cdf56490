"""`zvt session` end to end on a slice of the bundled sample: the report, the chart, and each strategy's
PnL checked against an independent recomputation from the fills stored in the event store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest

from schemas.primitives import Side
from topics import Topics
from trading.positions import Position
from zvt.session import DEFAULT_FILES
from zvt.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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
    same files, replayed at full speed instead of recorded speed, fills the same orders the same way."""
    first = json.loads((report_dir / "session.json").read_text())
    again = json.loads((run_session(tmp_path, sample_files, "max") / "session.json").read_text())
    assert first["topic_prefix"] != again["topic_prefix"]  # two sessions, on topics of their own
    assert sorted(again["fill_event_ids"]) == sorted(first["fill_event_ids"])
    assert again["orders"] == first["orders"]
    assert again["pnl"] == first["pnl"]
    assert again["total_net_pnl"] == first["total_net_pnl"]


def test_the_report_and_chart_are_written(report_dir: Path) -> None:
    report = json.loads((report_dir / "session.json").read_text())
    assert report["orders"]["requested"] > 0
    assert report["fill_event_ids"], "the example strategies filled nothing on the sample"
    assert report["stored_fills"] == len(report["fill_event_ids"])
    chart = (report_dir / "equity.png").read_bytes()
    assert chart.startswith(PNG_SIGNATURE)
    assert len(chart) > 10_000


async def test_pnl_equals_a_recomputation_from_the_event_store(report_dir: Path, settings: Settings) -> None:
    """The fills are read back from `event_store`: this session's `order.executed` rows, in stored order."""
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
    positions: dict[tuple[str, str, str], Position] = defaultdict(Position)
    for row in rows:
        fill = orjson.loads(row["event_data"])
        key = (fill["strategy_id"], fill["account_id"], fill["symbol"])
        positions[key] = positions[key].apply_fill(
            Side(fill["side"]),
            Decimal(fill["fill_quantity"]),
            Decimal(fill["fill_price"]),
            Decimal(fill["fee"]),
        )
    reported = {(line["strategy_id"], line["account_id"], line["symbol"]): line for line in report["pnl"]}
    assert set(reported) == set(positions)
    for key, position in positions.items():
        line = reported[key]
        mark = None if line["mark"] is None else Decimal(line["mark"])
        assert line["quantity"] == str(position.quantity), key
        assert line["realized_pnl"] == str(position.realized_pnl), key
        assert line["fees"] == str(position.fees_paid), key
        assert line["net_pnl"] == str(position.net_pnl(mark)), key
