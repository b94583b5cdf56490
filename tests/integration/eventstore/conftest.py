"""Event-store fixtures: a migrated template database per session, and a fresh copy of it per test.

Databases are named `zvt_test_<hex>` and dropped afterwards, so runs (and tests) never see each other's
rows; `CREATE DATABASE ... TEMPLATE` copies the migrated schema in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from eventstore.db import connect
from eventstore.migrate import migrate
from eventstore.partitions import ensure_ahead
from runtime.settings import Settings

pytestmark = pytest.mark.integration


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _create_database(admin_dsn: str, template: str | None = None) -> str:
    name = f"zvt_test_{uuid.uuid4().hex[:12]}"
    await _retrying(admin_dsn, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


async def _drop_database(admin_dsn: str, name: str) -> None:
    await _retrying(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _retrying(admin_dsn: str, statement: str, attempts: int = 40) -> None:
    """Run a CREATE/DROP DATABASE, waiting out an autovacuum worker that is briefly connected to the
    database (or template): FORCE cannot terminate a superuser's process."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        for attempt in range(attempts):
            try:
                await admin.execute(statement)
                return
            except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.25)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def template_database(settings: Settings) -> AsyncIterator[str]:
    name = await _create_database(settings.postgres_url())
    connection = await connect(with_database(settings.postgres_url(), name))
    try:
        await migrate(connection)
        await ensure_ahead(connection, datetime.now(UTC))
    finally:
        await connection.close()
    yield name
    await _drop_database(settings.postgres_url(), name)


@pytest.fixture
async def store_settings(settings: Settings, template_database: str) -> AsyncIterator[Settings]:
    """Stack settings whose postgres_dsn points at a fresh, migrated database of this test's own."""
    name = await _create_database(settings.postgres_url(), template_database)
    yield settings.model_copy(update={"postgres_dsn": with_database(settings.postgres_dsn, name)})
    await _drop_database(settings.postgres_url(), name)


@pytest.fixture
async def connection(store_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(store_settings.postgres_url())
    yield conn
    await conn.close()
