"""Everything one batch publishes, sent in record batches and acknowledged once.

A producer `send` per record costs a future, a partitioner call and a sensor each, and the broker's
acknowledgement of each is waited for in turn; here records are appended to one record batch per topic
and partition (aiokafka's batch API), the batches go out together, and `flush` waits for all their
acknowledgements at once: one round trip per batch of work, whatever its size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

Headers = Sequence[tuple[str, bytes]]


def partition_for(key: bytes | None, partitions: int) -> int:
    """The partition Kafka's default partitioner (and so every other producer here) picks for `key`."""
    if key is None or partitions == 1:
        return 0
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class Outbox:
    """Records of one batch per topic and partition, sent by `flush`."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], Any] = {}  # (topic, partition) -> aiokafka BatchBuilder
        self._full: list[tuple[str, int, Any]] = []
        self._partitions: dict[tuple[str, bytes | None, int], int] = {}  # murmur2 in Python: cached
        self.records = 0

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        *,
        partitions: int = 1,
        partition: int | None = None,
        headers: Headers = (),
    ) -> None:
        """Queue one record for `topic`: to `partition`, or to the one its key hashes to."""
        if partition is None and partitions == 1:
            partition = 0
        elif partition is None:
            if len(self._partitions) > 100_000:  # keys are accounts and symbols: never in practice
                self._partitions.clear()
            cache_key = (topic, key, partitions)
            partition = self._partitions.get(cache_key)
            if partition is None:
                partition = self._partitions[cache_key] = partition_for(key, partitions)
        slot = (topic, partition)
        batch = self._open.get(slot)
        if batch is None:
            batch = self._open[slot] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
            self._full.append((topic, partition, batch))  # full: it goes as it is, a new one takes the record
            batch = self._open[slot] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=list(headers))
        self.records += 1

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every queued record to the producer; the futures of their acknowledgements."""
        queued = [*self._full, *((topic, p, batch) for (topic, p), batch in self._open.items())]
        self._full, self._open = [], {}
        self.records = 0
        return [await self._producer.send_batch(batch, topic, partition=p) for topic, p, batch in queued]

    async def flush(self) -> int:
        """Send every queued record and wait until the broker acknowledged them all; how many there were."""
        count = self.records
        acks = await self.send()
        if acks:
            await asyncio.gather(*acks)
        return count
