"""Live read models (projected batch by batch as events are appended) equal a replay of the store."""

from __future__ import annotations

import random
from datetime import timedelta

import asyncpg
import pytest

from bench.flows import FlowGenerator
from eventstore.projections import load, project
from eventstore.replay import TimeRange, check, count, rebuild
from eventstore.store import NewEvent, append

pytestmark = pytest.mark.integration


async def _append_live(connection: asyncpg.Connection, events: list[NewEvent], seed: int) -> None:
    rng = random.Random(seed)
    start = 0
    while start < len(events):
        size = rng.randint(1, 700)
        async with connection.transaction():
            result = await append(connection, events[start : start + size])
            await project(connection, result.stored)
        start += size


async def test_replay_of_10000_events_equals_the_live_read_models(connection: asyncpg.Connection) -> None:
    generator = FlowGenerator(seed=31, accounts=7)
    events = [NewEvent.of(e) for e in generator.events(10_000)]
    await _append_live(connection, events, seed=31)
    live = await load(connection)
    assert len(live.positions) > 10
    assert sum(c.event_count for c in live.correlations) == len(events)

    pages: list[int] = []
    rebuilt = await rebuild(connection, page_size=3000, on_page=pages.append, dry_run=True)
    assert sum(pages) == len(events) == await count(connection, TimeRange())
    assert check(live, rebuilt) == []

    await connection.execute(
        "UPDATE position_projections SET quantity = quantity + 1 WHERE symbol = 'SOL/USDT'"
    )
    differences = check(await load(connection), rebuilt)
    assert len(differences) == 1
    assert differences[0].startswith("positions:")
    await rebuild(connection, page_size=4000)
    assert await load(connection) == live


async def test_replay_of_a_time_range_folds_only_that_range(connection: asyncpg.Connection) -> None:
    generator = FlowGenerator(seed=32)
    early = generator.events(300)
    late = generator.events(300)
    await _append_live(connection, [NewEvent.of(e) for e in early + late], seed=32)
    since = late[0].timestamp - timedelta(microseconds=1)
    rebuilt = await rebuild(connection, TimeRange(since=since))
    assert sum(c.event_count for c in rebuilt.correlations.values()) == len(late)
    assert {c.correlation_id for c in (await load(connection)).correlations} == {
        e.correlation_id for e in late
    }
