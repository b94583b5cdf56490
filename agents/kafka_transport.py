"""Faust's aiokafka transport, changed so that no fetched message is skipped and then committed past.

faust-streaming 0.15.3 delivers a fetched batch record by record while other tasks move the fetch position:
after a (re)assignment, table recovery seeks every partition to its committed offset, and it may do so while
the first batch is still being delivered. Faust then goes on delivering that stale batch; the next record it
delivers is far ahead of the sought read offset, and its gap filling (`Consumer._add_gap`) marks the offsets
between as acknowledged, although the records refetched from there are dropped as already read. It also
stops a batch half way when flow control or the group generation changes. In the crash test this lost runs
of 5-110 messages per partition around a restart (compare faust-streaming issue #88). And a partition that
has no committed offset yet is left where its fetch position happens to be, past the records Faust fetched
and dropped before recovery ended: that lost 2-3 fills per partition in the crash test.

Here a batch is abandoned as soon as a seek happened since it was fetched (the fetch position already points
at the first record to deliver; a seek made while the fetch was still pending does not count: the batch
then comes from the new position), records fetched but not delivered are refetched by seeking back to the
first of them, and a gap in the offsets of a non-transactional topic — where every offset is a record, so a
gap can only be a record never delivered — is refetched instead of acknowledged. A refetched record is
delivered again rather than dropped as already read: the agents are idempotent, and a record flushed from an
agent's buffer by a rebalance was read but never processed. Partitions without a committed offset are sought
to the beginning (the app's offset reset policy).

Stream records are also held back (and refetched) while a rebalance is in progress: the recovery that ends it
seeks the streams to their committed offsets with the fetcher running, then resumes flow control, which
clears every stream queue. A record fetched from the new position and delivered in between was cleared
unprocessed, with the fetch position already past it: after a kill -9, the restarted worker never saw the
ticks published during its recovery and sat idle, its commits stuck behind them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, Message

log = logging.getLogger(__name__)


class GaplessConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer that never lets a fetched but undelivered record be committed."""

    _fetched: Mapping[TP, list[Any]] = {}
    _fetched_after: tuple[int, int] | None = None  # (group generation, seeks) when the batch came back
    _seeks: int = 0

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """aiokafka leaves a partition without a committed offset (or committed at 0) where its fetch
        position happens to be, which is past whatever Faust fetched and dropped before this seek."""
        committed = await super().seek_to_committed()
        uncommitted = [tp for tp, offset in committed.items() if not offset or offset < 0]
        if uncommitted and self.app.conf.consumer_auto_offset_reset == "earliest":
            await self._thread.seek_to_beginning(*uncommitted)
        return committed

    async def perform_seek(self) -> None:
        self._seeks += 1
        await super().perform_seek()

    async def seek(self, partition: TP, offset: int) -> None:
        self._seeks += 1
        await super().seek(partition, offset)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109 (Faust's)
        records, active_partitions = await super()._wait_next_records(timeout)
        self._fetched = records or {}
        # Seeks count from here, not from the call: the wait for a batch can outlast a seek (recovery seeks
        # the streams to their committed offsets while a fetch is pending), and the batch that comes back
        # is then already fetched from the new position; dropping it as stale lost it for good.
        self._fetched_after = (self.app.consumer_generation_id, self._seeks)
        return records, active_partitions

    def _changelogs(self) -> set[str]:
        return set(self.app.tables.changelog_topics)

    def _moved_since_fetch(self) -> bool:
        """A rebalance or a seek happened since the batch being delivered was fetched."""
        return self._fetched_after != (self.app.consumer_generation_id, self._seeks)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        self._fetched, self._fetched_after = {}, None
        delivered: dict[TP, int] = {}
        sought_back: set[TP] = set()
        held_back = False
        changelogs: set[str] | None = None  # read once per batch, and only during a rebalance
        async for tp, message in super().getmany(timeout):
            if self._fetched_after is not None and self._fetched_after[1] != self._seeks:
                return  # the rest of this batch is stale: delivery goes on from where the seek points
            if tp in sought_back:
                continue
            if self.app.rebalancing and tp.topic not in (changelogs := changelogs or self._changelogs()):
                held_back = True  # refetched below: the end of the rebalance would clear it from the queues
                continue
            last_read = self._read_offset.get(tp)
            # Under exactly-once the inputs are written in transactions, whose markers take offsets.
            if not self.in_transaction and last_read is not None and message.offset > last_read + 1:
                await self._seek_back(tp, last_read, f"offsets up to {message.offset} skipped")
                sought_back.add(tp)
                continue
            if last_read is not None and message.offset < last_read:
                # Refetched after a seek: Faust would drop it as already read, but a rebalance may have
                # flushed it from the agent's buffer unprocessed. The agents skip what they already applied.
                self._read_offset[tp] = message.offset
            delivered[tp] = message.offset
            yield tp, message
        if self._fetched_after is None or self._moved_since_fetch():
            return  # no batch, or the rebalance or seek already set where each partition continues
        for tp, records in self._fetched.items():
            last = delivered.get(tp)
            undelivered = [r.offset for r in records if last is None or r.offset > last]
            if undelivered and tp not in sought_back:
                why = "held back until the rebalance ends" if held_back else "fetched records undelivered"
                level = logging.DEBUG if held_back else logging.WARNING
                await self._seek_back(tp, undelivered[0], f"{len(undelivered)} {why}", level)

    async def _seek_back(self, tp: TP, offset: int, why: str, level: int = logging.WARNING) -> None:
        if tp not in self.assignment():
            return  # revoked: its next owner starts from the committed offset
        log.log(level, "%s[%s]: refetching from offset %s: %s", tp.topic, tp.partition, offset, why)
        try:
            await self._thread.seek_wait({tp: offset})
        except IllegalStateError:
            log.info("%s[%s] was revoked before the refetch", tp.topic, tp.partition)


class GaplessTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = GaplessConsumer
