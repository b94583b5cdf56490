"""The tracking table: per consumer and Kafka partition, the next offset to read.

It is written in the same transaction as the rows consumed up to that offset, so the stored events and
the consumer's position can never disagree: after a crash the consumer resumes exactly after the last
committed batch, whatever Kafka's own committed offsets say.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import asyncpg

Partition = tuple[str, int]  # (topic, partition)


async def stored_offsets(
    connection: asyncpg.Connection, consumer: str, partitions: Collection[Partition], *, lock: bool = False
) -> dict[Partition, int]:
    """The next offset of each partition that has one; `lock` holds the rows until the transaction ends."""
    topics, numbers = zip(*partitions, strict=True) if partitions else ((), ())
    rows = await connection.fetch(
        """SELECT topic, partition, next_offset FROM event_sink_offsets
           WHERE consumer = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))"""
        + (" FOR UPDATE" if lock else ""),
        consumer,
        list(topics),
        list(numbers),
    )
    return {(row["topic"], row["partition"]): row["next_offset"] for row in rows}


async def save_offsets(
    connection: asyncpg.Connection, consumer: str, offsets: Mapping[Partition, int]
) -> None:
    if not offsets:
        return
    (topics, numbers), values = zip(*offsets, strict=True), list(offsets.values())
    await connection.execute(
        """INSERT INTO event_sink_offsets (consumer, topic, partition, next_offset)
           SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
           ON CONFLICT (consumer, topic, partition)
           DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()""",
        consumer,
        list(topics),
        list(numbers),
        values,
    )
