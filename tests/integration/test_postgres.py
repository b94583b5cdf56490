"""Queries through asyncpg against the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from runtime.settings import Settings
from schemas import CODEC, OrderRequested

pytestmark = pytest.mark.integration


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.postgres_url())
    yield conn
    await conn.close()


async def test_query(connection: asyncpg.Connection) -> None:
    assert await connection.fetchval("SELECT 40 + 2") == 42
    assert int(await connection.fetchval("SHOW server_version_num")) >= 150000


async def test_event_as_jsonb_round_trips(connection: asyncpg.Connection) -> None:
    event = OrderRequested(
        order_id="ord-pg",
        account_id="acct-1",
        symbol="BTC/USDT",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.000123450"),
        limit_price=Decimal("61234.50"),
    )
    await connection.execute("CREATE TEMPORARY TABLE events (event_id uuid PRIMARY KEY, body jsonb NOT NULL)")
    await connection.execute(
        "INSERT INTO events VALUES ($1, $2::jsonb)", event.event_id, CODEC.encode(event).decode()
    )
    body = await connection.fetchval("SELECT body::text FROM events WHERE event_id = $1", event.event_id)
    assert CODEC.decode(body) == event
    quantity = await connection.fetchval("SELECT (body->>'quantity')::numeric FROM events")
    assert str(quantity) == "0.000123450"  # numeric keeps the scale, not just the value


async def test_rolled_back_transaction_leaves_nothing(connection: asyncpg.Connection) -> None:
    await connection.execute(
        "CREATE TEMPORARY TABLE fills (fill_id text PRIMARY KEY, price numeric NOT NULL)"
    )
    with pytest.raises(asyncpg.UniqueViolationError):  # noqa: PT012  (the block is the transaction)
        async with connection.transaction():
            await connection.execute("INSERT INTO fills VALUES ('f-1', 100.5)")
            await connection.execute("INSERT INTO fills VALUES ('f-1', 100.6)")
    assert await connection.fetchval("SELECT count(*) FROM fills") == 0
