"""Partitions ahead of time, and retention dropping (or archiving) only whole old months."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from bench.flows import FlowGenerator
from eventstore import trading_events
from eventstore.partitions import MonthPartition, ensure_ahead, existing
from eventstore.retention import retire
from eventstore.store import NewEvent, append

pytestmark = pytest.mark.integration


async def test_partitions_are_created_ahead_and_idempotently(connection: asyncpg.Connection) -> None:
    now = datetime(2031, 11, 15, tzinfo=UTC)
    created = await ensure_ahead(connection, now, months_ahead=2)
    assert "trading_events_p203201" in created
    assert await ensure_ahead(connection, now, months_ahead=2) == []
    months = [p.month for p in await existing(connection, "performance_metrics")]
    assert {date(2031, 11, 1), date(2031, 12, 1), date(2032, 1, 1)} <= set(months)


async def test_old_months_are_archived_then_dropped(connection: asyncpg.Connection, tmp_path: Path) -> None:
    old = FlowGenerator(seed=61, start=datetime(2020, 1, 10, tzinfo=UTC)).events(40)
    recent = FlowGenerator(seed=62, start=datetime(2020, 3, 10, tzinfo=UTC)).events(40)
    result = await append(connection, [NewEvent.of(e) for e in old + recent])
    inserted = await trading_events.insert(connection, result.stored)  # creates the 2020 partitions
    old_orders = sum(1 for s in result.stored[: len(old)] if s.event_type in trading_events.ORDER_TYPES)
    assert inserted > old_orders > 0

    cutoff = datetime(2020, 3, 1, tzinfo=UTC)
    planned = await retire(connection, cutoff, dry_run=True)
    assert [(r.partition.name, r.rows) for r in planned] == [("trading_events_p202001", old_orders)]
    assert MonthPartition("trading_events", date(2020, 1, 1)) in await existing(connection, "trading_events")

    retired = await retire(connection, cutoff, archive_dir=tmp_path)
    assert [r.partition.name for r in retired] == ["trading_events_p202001"]
    assert retired[0].archive is not None
    with retired[0].archive.open() as archive:
        rows = list(csv.DictReader(archive))
    assert len(rows) == old_orders
    assert {row["event_id"] for row in rows} == {
        str(s.event_id) for s in result.stored[: len(old)] if s.event_type in trading_events.ORDER_TYPES
    }
    assert all(Decimal(row["quantity"]) > 0 for row in rows if row["event_type"] != "order.rejected")
    names = [p.name for p in await existing(connection, "trading_events")]
    assert "trading_events_p202001" not in names
    assert "trading_events_p202003" in names
    assert await connection.fetchval("SELECT count(*) FROM event_store") == len(old) + len(recent)
