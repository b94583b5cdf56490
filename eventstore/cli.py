"""`zvt db ...`, `zvt replay`, `zvt trace` and `zvt sink`: the event store's commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.console import Console

from zvt.settings import get_settings

db_app = typer.Typer(help="The event store's PostgreSQL schema: migrations, partitions, retention.")
console = Console()


async def _migrate(dsn: str) -> None:
    from eventstore.db import connect
    from eventstore.migrate import migrate
    from eventstore.partitions import ensure_ahead

    connection = await connect(dsn)
    try:
        applied = await migrate(connection)
        created = await ensure_ahead(connection, datetime.now(UTC))
    finally:
        await connection.close()
    for migration in applied:
        console.print(f"applied migration {migration.version:04d}_{migration.name}")
    if not applied:
        console.print("schema up to date")
    if created:
        console.print(f"created partitions: {', '.join(created)}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations and create the time partitions ahead (idempotent)."""
    asyncio.run(_migrate(get_settings().postgres_dsn))


def sink() -> None:
    """Store every event topic in the event store, effectively once, until SIGTERM."""
    from eventstore.sink import run_sink

    asyncio.run(run_sink(get_settings(), console))
