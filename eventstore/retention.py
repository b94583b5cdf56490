"""Retention of the time-partitioned tables: whole monthly partitions older than a cutoff are archived
(COPY to a CSV file, optional) and dropped. Dropping a partition is instant and leaves no bloat, unlike
DELETE. The event store is not touched: it is the audit trail and the source of every replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from eventstore.partitions import PARTITIONED_TABLES, MonthPartition, existing


@dataclass(frozen=True)
class Retired:
    partition: MonthPartition
    rows: int
    archive: Path | None


def expired(partitions: list[MonthPartition], cutoff: datetime) -> list[MonthPartition]:
    """Pure: the partitions holding only rows older than `cutoff`."""
    return [partition for partition in partitions if partition.end <= cutoff]


async def retire(
    connection: asyncpg.Connection,
    cutoff: datetime,
    *,
    archive_dir: Path | None = None,
    dry_run: bool = False,
) -> list[Retired]:
    retired = []
    for table in PARTITIONED_TABLES:
        for partition in expired(await existing(connection, table), cutoff):
            rows = int(await connection.fetchval(f'SELECT count(*) FROM "{partition.name}"'))
            archive = None if archive_dir is None else archive_dir / f"{partition.name}.csv"
            if not dry_run:
                async with connection.transaction():
                    if archive is not None:
                        archive.parent.mkdir(parents=True, exist_ok=True)
                        await connection.copy_from_table(
                            partition.name, output=str(archive), format="csv", header=True
                        )
                    await connection.execute(f'DROP TABLE "{partition.name}"')
            retired.append(Retired(partition, rows, archive))
    return retired
