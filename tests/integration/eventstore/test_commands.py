"""`zvt trace` and `zvt replay` as an operator runs them, against a store filled through the live path."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from bench.flows import FlowGenerator
from eventstore.projections import project
from eventstore.store import NewEvent, append
from runtime.settings import Settings

pytestmark = pytest.mark.integration


def _zvt(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZVT_POSTGRES_DSN": settings.postgres_dsn, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "zvt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_trace_prints_the_order_flow_in_causal_order(
    store_settings: Settings, connection: asyncpg.Connection
) -> None:
    generator = FlowGenerator(seed=51)
    flows = [generator.flow(i) for i in range(30)]
    flow = next(f for f in flows if len(f) == 8)  # two fills
    order_id = NewEvent.of(flow[0]).aggregate_id
    async with connection.transaction():
        result = await append(connection, [NewEvent.of(e) for f in flows for e in f])
        await project(connection, result.stored)

    by_order = await asyncio.to_thread(_zvt, store_settings, "trace", order_id)
    assert by_order.returncode == 0, by_order.stderr
    lines = by_order.stdout.splitlines()
    assert lines[0].startswith(f"{order_id}: 8 events over 83.0 ms")
    assert [line.split("+00:00 ")[1].split()[0] for line in lines[1:]] == [e.event_type for e in flow]
    stamps = [e.timestamp.isoformat(timespec="milliseconds") for e in flow]
    assert [stamp for stamp in stamps if any(stamp in line for line in lines)] == stamps
    indents = [len(line) - len(line.lstrip(" │├└─")) for line in lines[1:]]
    assert (
        indents == sorted(indents[:6]) + indents[6:]
    )  # the chain nests; the second fill returns to its cause
    assert indents[6] == indents[4]

    by_correlation = await asyncio.to_thread(_zvt, store_settings, "trace", str(flow[3].correlation_id))
    assert by_correlation.stdout.splitlines()[1:] == lines[1:]
    missing = await asyncio.to_thread(_zvt, store_settings, "trace", "ord-nope")
    assert missing.returncode == 1


async def test_replay_command_rebuilds_and_checks(
    store_settings: Settings, connection: asyncpg.Connection
) -> None:
    events = FlowGenerator(seed=52).events(3000)
    async with connection.transaction():
        result = await append(connection, [NewEvent.of(e) for e in events])
        await project(connection, result.stored)
    checked = await asyncio.to_thread(_zvt, store_settings, "replay", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(events):,} events" in checked.stdout
    await connection.execute("DELETE FROM position_projections WHERE account_id = 'acct-1'")
    broken = await asyncio.to_thread(_zvt, store_settings, "replay", "--check")
    assert broken.returncode == 1
    assert "differs positions" in broken.stdout
    rebuilt = await asyncio.to_thread(_zvt, store_settings, "replay")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert (await asyncio.to_thread(_zvt, store_settings, "replay", "--check")).returncode == 0
