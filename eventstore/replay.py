"""Rebuild the read models from the event store: the whole history, or only the events of a time range.

Events are read in store order, a page at a time by position (keyset, no OFFSET), selecting only what
the fold needs: position updates' JSON and the `status` of flow-ending events, not every payload.
The final write runs under the event store's write lock after folding whatever was appended meanwhile,
so a sink running during the replay loses nothing. A time-range replay rebuilds the read models from
that range alone (to inspect a period); `zvt replay` without a range brings them back to now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from eventstore.projections import POSITION_TYPE, STATUS_TYPES, ReadModels, Row, Snapshot, write

PAGE_SIZE = 20_000


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def sql(self, first_arg: int) -> tuple[str, list[datetime]]:
        clauses, args = [], []
        for bound, op in ((self.since, ">="), (self.until, "<")):
            if bound is not None:
                args.append(bound)
                clauses.append(f'AND "timestamp" {op} ${first_arg + len(args) - 1}')
        return " ".join(clauses), args


async def count(connection: asyncpg.Connection, window: TimeRange) -> int:
    where, args = window.sql(1)
    return int(await connection.fetchval(f"SELECT count(*) FROM event_store WHERE true {where}", *args))


async def fold(
    connection: asyncpg.Connection,
    models: ReadModels,
    window: TimeRange,
    *,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Apply every stored event after `models.last_position` within `window`; returns how many were read."""
    where, args = window.sql(5)
    query = f"""
        SELECT position, event_type, "timestamp", correlation_id, aggregate_version,
               CASE WHEN event_type = $3 THEN event_data END,
               CASE WHEN event_type = ANY($4::text[]) THEN event_data->>'status' END
        FROM event_store WHERE position > $1 {where} ORDER BY position LIMIT $2"""
    read = 0
    while True:
        rows = await connection.fetch(
            query, models.last_position, page_size, POSITION_TYPE, STATUS_TYPES, *args
        )
        if not rows:
            return read
        models.apply_all(Row(*row) for row in rows)
        read += len(rows)
        if on_page is not None:
            on_page(len(rows))
        if len(rows) < page_size:
            return read


async def rebuild(
    connection: asyncpg.Connection,
    window: TimeRange = TimeRange(),
    *,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[int], None] | None = None,
    dry_run: bool = False,
) -> ReadModels:
    """Fold the store into fresh read models and (unless `dry_run`) replace the tables with them."""
    models = ReadModels()
    await fold(connection, models, window, page_size=page_size, on_page=on_page)
    if dry_run:
        return models
    async with connection.transaction():
        await connection.execute("LOCK TABLE event_store IN EXCLUSIVE MODE")
        await fold(connection, models, window, page_size=page_size, on_page=on_page)
        await write(connection, models)
    return models


def check(live: Snapshot, rebuilt: ReadModels) -> list[str]:
    """What differs between the live read models and a rebuild (empty when they agree)."""
    return live.differences(Snapshot.of(rebuilt))
