"""Monthly range partitions of the time-series tables, created ahead of time and listed for retention.

A partition covers [first of month, first of next month) in UTC and is named `<table>_pYYYYMM`.
`zvt db migrate` creates the current month and a few ahead; writers call `ensure_months` for the months
their rows fall in, so an event stamped outside that window (a replayed backfill) still finds a home.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg

PARTITIONED_TABLES: tuple[str, ...] = ("trading_events", "performance_metrics")
MONTHS_AHEAD = 3


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, order=True)
class MonthPartition:
    table: str
    month: date  # the first day of the month it holds

    @property
    def name(self) -> str:
        return f"{self.table}_p{self.month:%Y%m}"

    @property
    def start(self) -> datetime:
        return datetime(self.month.year, self.month.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return MonthPartition(self.table, add_months(self.month, 1)).start

    @classmethod
    def parse(cls, table: str, name: str) -> MonthPartition | None:
        match = re.fullmatch(rf"{re.escape(table)}_p(\d{{4}})(\d{{2}})", name)
        if match is None:
            return None
        return cls(table, date(int(match[1]), int(match[2]), 1))


def _check_table(table: str) -> None:
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table!r} is not a partitioned table; expected one of {PARTITIONED_TABLES}")


async def existing(connection: asyncpg.Connection, table: str) -> list[MonthPartition]:
    _check_table(table)
    rows = await connection.fetch(
        """SELECT child.relname FROM pg_inherits
           JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
           JOIN pg_class child ON child.oid = pg_inherits.inhrelid
           WHERE parent.relname = $1""",
        table,
    )
    found = (MonthPartition.parse(table, row["relname"]) for row in rows)
    return sorted(partition for partition in found if partition is not None)


async def ensure_months(connection: asyncpg.Connection, table: str, months: Iterable[date]) -> list[str]:
    """Create the partitions of `table` for `months` that do not exist yet; returns the names created."""
    _check_table(table)
    have = {partition.month for partition in await existing(connection, table)}
    created = []
    for month in sorted(set(months) - have):
        partition = MonthPartition(table, month)
        # Through the owner's SECURITY DEFINER function (migration 0004): writers such as the sink may not
        # run DDL of their own. It names it `<table>_pYYYYMM` too.
        await connection.execute("SELECT ensure_month_partition($1, $2)", table, month)
        created.append(partition.name)
    return created


async def ensure_ahead(
    connection: asyncpg.Connection, now: datetime, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """This month's and the next `months_ahead` months' partitions of every partitioned table."""
    window = [add_months(month_of(now), offset) for offset in range(months_ahead + 1)]
    created = []
    for table in PARTITIONED_TABLES:
        created += await ensure_months(connection, table, window)
    return created
