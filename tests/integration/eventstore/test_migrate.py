"""Migrations against a real, empty PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from eventstore.db import connect
from eventstore.migrate import MigrationError, discover, migrate
from runtime.settings import Settings
from tests.integration.eventstore.conftest import _create_database, _drop_database, with_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def empty_dsn(settings: Settings) -> AsyncIterator[str]:
    name = await _create_database(settings.postgres_url())
    yield with_database(settings.postgres_url(), name)
    await _drop_database(settings.postgres_url(), name)


async def _tables(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows}


async def test_concurrent_migrations_apply_each_file_once(empty_dsn: str) -> None:
    connections = [await connect(empty_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(conn) for conn in connections))
        assert sorted(len(applied) for applied in results) == [0, 0, len(discover())]
        assert await migrate(connections[0]) == []
        assert {"event_store", "event_sink_offsets", "event_correlations", "portfolio_projections"} <= (
            await _tables(connections[0])
        )
        versions = await connections[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in versions] == [m.version for m in discover()]
    finally:
        for conn in connections:
            await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    connection = await connect(empty_dsn)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(connection, tmp_path)
        assert await _tables(connection) == {"good", "schema_migrations"}
        (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(connection, tmp_path)
    finally:
        await connection.close()
