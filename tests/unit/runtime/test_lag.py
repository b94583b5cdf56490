"""Consumer lag is measured to what the process finished, from the broker's partition ends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from runtime.lag import KafkaLag

PREFIX = "lagtest."
A, B = TopicPartition(f"{PREFIX}orders.requested", 0), TopicPartition(f"{PREFIX}orders.requested", 1)


@dataclass
class FakeConsumer:
    """The few aiokafka consumer calls `KafkaLag` makes, answered from dicts."""

    assigned: set[TopicPartition]
    ends: dict[TopicPartition, int]
    committed_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp] if tp in self.positions else None

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def beginning_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def end_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in tps}


def _lag(tp: TopicPartition) -> float | None:
    return REGISTRY.get_sample_value(
        "zvt_consumer_lag", {"topic": tp.topic.removeprefix(PREFIX), "partition": str(tp.partition)}
    )


async def test_lag_counts_from_what_is_finished_not_what_is_fetched() -> None:
    consumer = FakeConsumer({A, B}, ends={A: 10, B: 7}, committed_offsets={A: 4})
    lag = KafkaLag(consumer, PREFIX)  # aiokafka is untyped: any object will do
    await lag.sample()
    assert (_lag(A), _lag(B)) == (6, 7)  # from the committed offset, else the partition's beginning

    consumer.positions = {A: 10, B: 7}  # fetched everything, finished only part of it
    lag.finished({A: 8})
    await lag.sample()
    assert (_lag(A), _lag(B)) == (2, 7)

    await lag.caught_up()  # a fetch came back empty: all fetched is finished (the position passes markers)
    await lag.sample()
    assert (_lag(A), _lag(B)) == (0, 0)

    consumer.assigned = {A}  # B revoked: its lag is no longer this process's to report
    await lag.sample()
    assert _lag(B) is None
