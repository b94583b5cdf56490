"""PostgreSQL roles with SCRAM passwords: no connection without one; the sink appends, readers only read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from runtime.settings import Settings, load_settings

pytestmark = pytest.mark.integration

INSERT_EVENT = """INSERT INTO event_store (event_id, position, event_type, schema_version, "timestamp",
    correlation_id, aggregate_id, aggregate_version, event_data)
    VALUES ($1, 9000000000000000000, 'test.acl', 1, now(), $1, 'acl-test', 1, '{}'::jsonb)"""


class Rollback(Exception):
    """Leaves the shared event store as it was."""


async def connect_as(kind: str) -> asyncpg.Connection:
    return await asyncpg.connect(load_settings(kind=kind).postgres_url())


@pytest.fixture
async def sink() -> AsyncIterator[asyncpg.Connection]:
    connection = await connect_as("sink")
    yield connection
    await connection.close()


@pytest.fixture
async def reader() -> AsyncIterator[asyncpg.Connection]:
    connection = await connect_as("monitor")
    yield connection
    await connection.close()


@pytest.mark.parametrize("user", [None, "zvt", "postgres", "zvt_sink"])
async def test_a_connection_without_the_password_is_refused(settings: Settings, user: str | None) -> None:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(settings.postgres_dsn, user=user, password="")
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(settings.postgres_dsn, user=user or "zvt", password="wrong-password")


async def test_passwords_are_stored_as_scram(sink: asyncpg.Connection) -> None:
    assert await sink.fetchval("SHOW password_encryption") == "scram-sha-256"
    assert await sink.fetchval("SELECT current_user") == "zvt_sink"


async def test_sink_appends_but_cannot_delete_update_alter_or_drop(sink: asyncpg.Connection) -> None:
    with pytest.raises(Rollback):  # noqa: PT012  (the block is the transaction)
        async with sink.transaction():
            await sink.execute("SELECT lock_event_store()")
            await sink.execute(INSERT_EVENT, uuid.uuid4())
            partition = "SELECT ensure_month_partition('trading_events', $1)"
            assert await sink.fetchval(partition, date(1999, 1, 1))
            raise Rollback
    for statement in (
        "DELETE FROM event_store",
        "UPDATE event_store SET event_type = 'forged'",
        "ALTER TABLE event_store ADD COLUMN forged text",
        "DROP TABLE event_store",
        "TRUNCATE event_store",
        "CREATE TABLE sink_owned (x int)",
        "LOCK TABLE event_store IN EXCLUSIVE MODE",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with sink.transaction():
                await sink.execute(statement)


async def test_reader_reads_but_cannot_insert(reader: asyncpg.Connection) -> None:
    assert await reader.fetchval("SELECT count(*) FROM event_store") >= 0
    assert await reader.fetchval("SELECT current_user") == "zvt_reader"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.execute(INSERT_EVENT, uuid.uuid4())
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.execute("SELECT lock_event_store()")
