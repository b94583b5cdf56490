"""Consumer lag of a process's own aiokafka consumer (the sink's, the bridge's), as `zvt_consumer_lag`.

Lag is measured to what the process has finished with (stored, forwarded), not to what it has fetched: a
consumer stuck on its database has fetched its batch long ago, and that is the case lag is there to show.
The partition ends come from the broker every few seconds, so a stuck process still reports growing lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError

from runtime.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_SECONDS = 2.0


@dataclass
class KafkaLag:
    """The next offset this process still has to finish, per assigned partition; `topic_prefix` is cut from
    the `topic` label, so a label value names the registry topic whatever the deployment's prefix."""

    consumer: AIOKafkaConsumer
    topic_prefix: str
    done: dict[TopicPartition, int] = field(default_factory=dict)

    def finished(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Everything before these offsets is done (stored, forwarded)."""
        for tp, offset in offsets.items():
            self.done[tp] = max(self.done.get(tp, 0), offset)

    async def caught_up(self) -> None:
        """Call when a fetch returned nothing: every record fetched is done, so each fetched partition's
        position is. The position also steps over transaction markers, which no record's offset + 1 does."""
        for tp in self.consumer.assignment():
            if self.consumer.highwater(tp) is not None:  # a fetch answered, so the position is valid
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                    self.finished({tp: await self.consumer.position(tp)})

    async def sample(self) -> None:
        assigned = self.consumer.assignment()
        for tp in set(self.done) - assigned:  # revoked: its lag is another instance's to report
            del self.done[tp]
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._label(tp), str(tp.partition))
        new = assigned - set(self.done)  # start from the group's committed offset, else the beginning
        committed = {tp: await self.consumer.committed(tp) for tp in new}
        never = [tp for tp, offset in committed.items() if offset is None]
        # One request for all: each call waits for a fetcher cycle (~0.5 s).
        self.finished(await self.consumer.beginning_offsets(never) if never else {})
        self.finished({tp: offset for tp, offset in committed.items() if offset is not None})
        if not assigned:
            return
        ends = await self.consumer.end_offsets(list(assigned))
        for tp, end in ends.items():
            if tp in self.done:
                CONSUMER_LAG.labels(self._label(tp), str(tp.partition)).set(max(end - self.done[tp], 0))

    def _label(self, tp: TopicPartition) -> str:
        return str(tp.topic).removeprefix(self.topic_prefix)


async def sample_every(
    sample: Callable[[], Awaitable[None]], stopping: asyncio.Event, interval: float = SAMPLE_INTERVAL_SECONDS
) -> None:
    """Run `sample` every `interval` seconds until `stopping` is set; a failed sample is logged and the
    next one tried, since metrics must never stop the process they describe."""
    while not stopping.is_set():
        try:
            await sample()
        except Exception as exc:
            log.warning("lag not sampled: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
