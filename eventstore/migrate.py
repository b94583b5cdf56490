"""Versioned plain-SQL migrations: `migrations/NNNN_name.sql`, applied in order, each in its own transaction.

A `schema_migrations` row per applied file (with its checksum) makes `migrate` idempotent; a
session-level advisory lock lets several processes (stack start, tests, workers) call it at once.
An applied file that was edited afterwards is refused: write a new migration instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant unique to this purpose; pg_advisory_lock takes a bigint.
MIGRATION_LOCK_KEY = 0x7A7674_6D696772  # "zvt" "migr"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, by version; versions must run 1, 2, 3... without gaps or doubles."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1..{len(versions)} without gaps, got {versions}")
    return migrations


def pending(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    """The migrations still to apply; refuses applied ones whose file changed or vanished."""
    known = {migration.version: migration for migration in migrations}
    for version, checksum in applied.items():
        if version not in known:
            raise MigrationError(f"migration {version} is applied but its file is gone")
        if known[version].checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{known[version].name}.sql changed after it was applied; "
                "add a new migration instead"
            )
    return [migration for migration in migrations if migration.version not in applied]


async def migrate(connection: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration; returns those applied by this call (empty when up to date)."""
    migrations = discover(directory)
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        todo = pending(migrations, {row["version"]: row["checksum"] for row in rows})
        for migration in todo:
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        return todo
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
