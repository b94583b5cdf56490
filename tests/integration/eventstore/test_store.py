"""Appending to and reading from the real event store."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from bench.flows import FlowGenerator
from eventstore.db import connect
from eventstore.store import ConcurrencyError, NewEvent, aggregate_version, append, read_aggregate, read_all
from runtime.settings import Settings

pytestmark = pytest.mark.integration


async def _count(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM event_store"))


async def test_events_read_back_equal_and_in_order(connection: asyncpg.Connection) -> None:
    events = FlowGenerator(seed=11).events(50)
    result = await append(connection, [NewEvent.of(e) for e in events])
    stored = await read_all(connection, limit=1000)
    assert [s.event() for s in stored] == events
    assert [s.position for s in stored] == list(range(1, len(events) + 1))
    # jsonb keeps the content, not the bytes (key order, spacing): compare everything else exactly
    assert [replace(s, data=b"") for s in stored] == [replace(s, data=b"") for s in result.stored]


async def test_append_is_idempotent_on_event_id(connection: asyncpg.Connection) -> None:
    events = [NewEvent.of(e) for e in FlowGenerator(seed=12).events(30)]
    first = await append(connection, events[:20])
    again = await append(connection, events)  # 20 re-sent, 10 new
    assert (len(first.stored), first.duplicates) == (20, 0)
    assert (len(again.stored), again.duplicates) == (len(events) - 20, 20)
    assert await _count(connection) == len(events)
    assert (await append(connection, events)).stored == ()
    assert await _count(connection) == len(events)
    order = events[0].aggregate_id
    versions = [s.aggregate_version for s in await read_aggregate(connection, order)]
    assert versions == list(range(1, len(versions) + 1))


async def test_concurrent_appends_to_one_aggregate_exactly_one_wins(store_settings: Settings) -> None:
    flows = [FlowGenerator(seed=13).flow(0) for _ in range(8)]  # same order id, different event ids
    order = NewEvent.of(flows[0][0]).aggregate_id
    connections = [await connect(store_settings.postgres_url()) for _ in flows]
    try:
        outcomes = await asyncio.gather(
            *(
                append(conn, [NewEvent.of(e) for e in flow], expected_versions={order: 0})
                for conn, flow in zip(connections, flows, strict=True)
            ),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(o, ConcurrencyError) and o.expected == 0 for o in losers), losers
        stored = await read_aggregate(connections[0], order)
        assert [s.event_id for s in stored] == [
            s.event_id for s in winners[0].stored if s.aggregate_id == order
        ]
        assert await aggregate_version(connections[0], order) == len(stored)
    finally:
        for conn in connections:
            await conn.close()


async def test_a_failed_append_inside_a_transaction_leaves_nothing(connection: asyncpg.Connection) -> None:
    events = [NewEvent.of(e) for e in FlowGenerator(seed=14).flow(0)]
    await append(connection, events[:1])
    with pytest.raises(ConcurrencyError):  # noqa: PT012  (the block is the transaction)
        async with connection.transaction():
            await append(connection, [NewEvent.of(e) for e in FlowGenerator(seed=15).events(5)])
            await append(connection, events[1:], expected_versions={events[0].aggregate_id: 0})
    assert await _count(connection) == 1
