"""Append to and read from the event store (asyncpg).

`append` is idempotent on event_id (a re-sent event is skipped, not an error) and checks optimistic
concurrency per aggregate: with `expected_versions={aggregate_id: n}` it refuses, with
`ConcurrencyError`, to append unless that aggregate is at version n. Rows go in with one binary COPY;
the table lock that orders positions also serialises writers, so the checks and the COPY see one state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from eventstore.aggregates import aggregate_id_of
from schemas import CODEC, Event

COLUMNS: tuple[str, ...] = (
    "event_id",
    "position",
    "event_type",
    "schema_version",
    "timestamp",
    "correlation_id",
    "causation_id",
    "aggregate_id",
    "aggregate_version",
    "event_data",
    "metadata",
)
_SELECT = "SELECT " + ", ".join(f'"{column}"' for column in COLUMNS) + " FROM event_store"
_JSON_NUL = b"\\u0000"


class ConcurrencyError(Exception):
    """Another writer appended to the aggregate since the caller read it."""

    def __init__(self, aggregate_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"aggregate {aggregate_id!r} is at version {actual}, expected {expected}: "
            "another writer appended first; reload it and decide again"
        )
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual


class UnstorableEventError(ValueError):
    """Valid JSON that PostgreSQL's jsonb refuses (a NUL character in a string)."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event ready to append: envelope columns, its aggregate and the JSON bytes as published."""

    event_id: UUID
    event_type: str
    schema_version: int
    timestamp: datetime
    correlation_id: UUID
    causation_id: UUID | None
    aggregate_id: str
    data: bytes
    metadata: bytes = b"{}"

    @classmethod
    def of(
        cls, event: Event, *, data: bytes | None = None, metadata: Mapping[str, Any] | None = None
    ) -> NewEvent:
        """`data` is the event's encoding when the caller already has it (the sink has Kafka's bytes)."""
        data = CODEC.encode(event) if data is None else data
        if _JSON_NUL in data:
            raise UnstorableEventError(
                f"{event.event_type} {event.event_id}: jsonb cannot store NUL (\\u0000)"
            )
        return cls(
            event.event_id,
            event.event_type,
            event.version,
            event.timestamp,
            event.correlation_id,
            event.causation_id,
            aggregate_id_of(event),
            data,
            orjson.dumps(metadata) if metadata else b"{}",
        )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: UUID
    position: int
    event_type: str
    schema_version: int
    timestamp: datetime
    correlation_id: UUID
    causation_id: UUID | None
    aggregate_id: str
    aggregate_version: int
    data: bytes
    metadata: bytes

    def event(self) -> Event:
        """The event, upcast to today's schema if it was written with an older one."""
        return CODEC.decode(self.data)

    def record(self) -> tuple[Any, ...]:
        """The row, in `COLUMNS` order (the field order of this class)."""
        return (
            self.event_id,
            self.position,
            self.event_type,
            self.schema_version,
            self.timestamp,
            self.correlation_id,
            self.causation_id,
            self.aggregate_id,
            self.aggregate_version,
            self.data,
            self.metadata,
        )


@dataclass(frozen=True)
class AppendResult:
    stored: tuple[StoredEvent, ...]
    duplicates: int  # events skipped because their event_id was stored already (or repeated in the batch)


def plan_append(
    events: Sequence[NewEvent],
    *,
    stored_ids: set[UUID],
    versions: Mapping[str, int],
    expected_versions: Mapping[str, int],
    last_position: int,
) -> AppendResult:
    """Pure: what `append` writes, given what the store holds. Raises `ConcurrencyError`."""
    fresh: list[NewEvent] = []
    seen = set(stored_ids)
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    for aggregate_id in {event.aggregate_id for event in fresh} & expected_versions.keys():
        actual = versions.get(aggregate_id, 0)
        if actual != expected_versions[aggregate_id]:
            raise ConcurrencyError(aggregate_id, expected_versions[aggregate_id], actual)
    next_version = dict(versions)
    stored = []
    for offset, event in enumerate(fresh, start=1):
        version = next_version.get(event.aggregate_id, 0) + 1
        next_version[event.aggregate_id] = version
        stored.append(
            StoredEvent(
                event.event_id,
                last_position + offset,
                event.event_type,
                event.schema_version,
                event.timestamp,
                event.correlation_id,
                event.causation_id,
                event.aggregate_id,
                version,
                event.data,
                event.metadata,
            )
        )
    return AppendResult(tuple(stored), len(events) - len(fresh))


async def append(
    connection: asyncpg.Connection,
    events: Sequence[NewEvent],
    *,
    expected_versions: Mapping[str, int] | None = None,
) -> AppendResult:
    """Append `events` in order, atomically (inside the caller's transaction when there is one)."""
    if not events:
        return AppendResult((), 0)
    async with connection.transaction():
        # EXCLUSIVE blocks other writers, not readers: positions are assigned and committed in order.
        # As the owner (migration 0004): the lock needs rights on event_store that an appender lacks.
        await connection.execute("SELECT lock_event_store()")
        stored_ids = await connection.fetch(
            "SELECT event_id FROM event_store WHERE event_id = ANY($1::uuid[])",
            [event.event_id for event in events],
        )
        aggregate_ids = list({event.aggregate_id: None for event in events})
        versions = await connection.fetch(
            """SELECT a.id, (SELECT max(aggregate_version) FROM event_store e WHERE e.aggregate_id = a.id)
               FROM unnest($1::text[]) AS a(id)""",
            aggregate_ids,
        )
        last_position = await connection.fetchval("SELECT coalesce(max(position), 0) FROM event_store")
        result = plan_append(
            events,
            stored_ids={row[0] for row in stored_ids},
            versions={row[0]: row[1] for row in versions if row[1] is not None},
            expected_versions=expected_versions or {},
            last_position=last_position,
        )
        if result.stored:
            await connection.copy_records_to_table(
                "event_store", records=[event.record() for event in result.stored], columns=COLUMNS
            )
    return result


def _stored(rows: Iterable[asyncpg.Record]) -> list[StoredEvent]:
    return [StoredEvent(*row) for row in rows]


async def read_all(
    connection: asyncpg.Connection, after_position: int = 0, limit: int = 1000
) -> list[StoredEvent]:
    """Events in global order after `after_position` (a subscriber keeps the last position it saw)."""
    return _stored(
        await connection.fetch(
            f"{_SELECT} WHERE position > $1 ORDER BY position LIMIT $2", after_position, limit
        )
    )


async def read_aggregate(
    connection: asyncpg.Connection, aggregate_id: str, after_version: int = 0
) -> list[StoredEvent]:
    return _stored(
        await connection.fetch(
            f"{_SELECT} WHERE aggregate_id = $1 AND aggregate_version > $2 ORDER BY aggregate_version",
            aggregate_id,
            after_version,
        )
    )


async def read_correlations(
    connection: asyncpg.Connection, correlation_ids: Sequence[UUID]
) -> list[StoredEvent]:
    return _stored(
        await connection.fetch(
            f"{_SELECT} WHERE correlation_id = ANY($1::uuid[]) ORDER BY position", list(correlation_ids)
        )
    )


async def aggregate_version(connection: asyncpg.Connection, aggregate_id: str) -> int:
    version = await connection.fetchval(
        "SELECT max(aggregate_version) FROM event_store WHERE aggregate_id = $1", aggregate_id
    )
    return int(version or 0)
