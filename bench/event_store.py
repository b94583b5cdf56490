"""Event store throughput against the running PostgreSQL (`python -m bench.event_store`).

In a scratch database (created and dropped here): `append` (lock, duplicate and version checks, binary
COPY) beside a plain binary COPY of the very same rows into a copy of the table — the baseline of what
PostgreSQL itself costs; then append with the live read models (the sink's transaction), and replay.
Events are encoded before timing: the sink appends the bytes it received from Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.flows import FlowGenerator
from eventstore import projections
from eventstore.db import connect
from eventstore.migrate import migrate
from eventstore.partitions import ensure_ahead
from eventstore.replay import rebuild
from eventstore.store import COLUMNS, NewEvent, StoredEvent, append
from runtime.settings import load_settings

console = Console()


def _batches(items: Sequence[NewEvent], size: int) -> list[Sequence[NewEvent]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def run(dsn: str, count: int, batch: int) -> Table:
    events = [NewEvent.of(event) for event in FlowGenerator(seed=1, accounts=20).events(count)]
    count = len(events)
    connection = await connect(dsn)
    await migrate(connection)
    await ensure_ahead(connection, datetime.now(UTC))
    await connection.execute("CREATE TABLE copy_baseline (LIKE event_store INCLUDING ALL)")
    stored: list[StoredEvent] = []

    async def append_all() -> None:
        for chunk in _batches(events, batch):
            async with connection.transaction():
                stored.extend((await append(connection, chunk)).stored)

    async def copy_all() -> None:
        for start in range(0, len(stored), batch):
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "copy_baseline",
                    records=[s.record() for s in stored[start : start + batch]],
                    columns=COLUMNS,
                )

    async def append_projected() -> None:
        await connection.execute("TRUNCATE event_store")
        for chunk in _batches(events, batch):
            async with connection.transaction():
                await projections.project(connection, (await append(connection, chunk)).stored)

    append_s = await _timed(append_all)
    copy_s = await _timed(copy_all)
    resend_s = await _timed(append_all)  # every event again: all duplicates, nothing written
    projected_s = await _timed(append_projected)
    fold_s = await _timed(lambda: rebuild(connection, dry_run=True))
    replay_s = await _timed(lambda: rebuild(connection))
    await connection.close()

    table = Table(
        "operation", "events/s", "vs baseline", title=f"Event store: {count:,} events, batches of {batch:,}"
    )
    table.add_row("plain COPY of the same rows (baseline)", f"{count / copy_s:,.0f}", "1.00")
    table.add_row("append (checks + COPY)", f"{count / append_s:,.0f}", f"{copy_s / append_s:.2f}")
    table.add_row(
        "append re-sent batch (all duplicates)", f"{count / resend_s:,.0f}", f"{copy_s / resend_s:.2f}"
    )
    table.add_row(
        "append + live read models (sink transaction)",
        f"{count / projected_s:,.0f}",
        f"{copy_s / projected_s:.2f}",
    )
    table.add_row("replay: fold only (--check)", f"{count / fold_s:,.0f}", "")
    table.add_row("replay: fold and rewrite read models", f"{count / replay_s:,.0f}", "")
    return table


async def _with_scratch_database(admin_dsn: str, count: int, batch: int) -> Table:
    name = f"zvt_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await run(urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}")), count, batch)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events to append and replay")
    parser.add_argument("--batch", type=int, default=5_000, help="events per append (one transaction each)")
    args = parser.parse_args()
    dsn = load_settings().postgres_url()
    console.print(asyncio.run(_with_scratch_database(dsn, args.events, args.batch)))


if __name__ == "__main__":
    main()
