"""Creates the registry's Kafka topics on a broker, idempotently (`zvt topics create`), and measures a
consumer group's lag on them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from runtime.clients import kafka_options
from runtime.settings import Settings
from topics.acls import grant_prefix, revoke_prefix
from topics.registry import KafkaTopic, StateChangelogs, Topics

TOPIC_ALREADY_EXISTS = 36


class TopicAdminError(RuntimeError):
    pass


class TopicAction(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    PARTITIONS_ADDED = "partitions added"


@dataclass(frozen=True)
class TopicResult:
    name: str
    action: TopicAction
    partitions: int


async def _connected_admin(settings: Settings) -> AIOKafkaAdminClient:
    # A broker that has just opened its port may not serve metadata yet: retry for a while.
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        stop=stop_after_delay(60),
        wait=wait_exponential(multiplier=0.2, max=3),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(**kafka_options(settings), client_id="zvt-topics")
            await admin.start()
            return admin
    raise AssertionError("unreachable")


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts of the topics that exist and have a leader for every partition."""
    return {
        description["topic"]: len(description["partitions"])
        for description in await admin.describe_topics(names)
        if description["error_code"] == 0
        and all(partition["leader"] >= 0 for partition in description["partitions"])
    }


async def _create(admin: AIOKafkaAdminClient, topics: dict[str, KafkaTopic]) -> set[str]:
    """Create `topics`; returns the names this call created (others already existed)."""
    if not topics:
        return set()
    response = await admin.create_topics(
        [
            NewTopic(name, num_partitions=t.partitions, replication_factor=1, topic_configs=t.config())
            for name, t in topics.items()
        ]
    )
    created = set()
    for name, error_code, message in response.topic_errors:
        if error_code == 0:
            created.add(name)
        elif error_code != TOPIC_ALREADY_EXISTS:
            raise TopicAdminError(f"creating {name} failed: error {error_code}: {message}")
    return created


async def ensure_topics(
    settings: Settings,
    prefix: str = "",
    topics: Iterable[KafkaTopic] | None = None,
    *,
    grant: bool = False,
) -> list[TopicResult]:
    """Create missing topics and grow partition counts that are too small; never delete or shrink.

    When it creates a topic (only the admin principal may), or with `grant`, it also grants every process
    kind's principal its rights on the topics of `prefix` (topics.acls): a prefix's topics and their ACLs
    come into being together, whichever client made them.
    """
    every = (*Topics.with_dead_letters(), *StateChangelogs.all())
    wanted = {topic.full_name(prefix): topic for topic in (topics or every)}
    names = list(wanted)
    admin = await _connected_admin(settings)
    try:
        known = await _partition_counts(admin, names)
        created = await _create(admin, {name: wanted[name] for name in names if name not in known})
        # New topics (and ones another client just made) get metadata and leaders asynchronously.
        for _ in range(100):
            counts = await _partition_counts(admin, names)
            if len(counts) == len(names):
                break
            await asyncio.sleep(0.1)
        else:
            raise TopicAdminError(f"topics not visible after creation: {sorted(set(names) - set(counts))}")
        too_small = {name for name, count in counts.items() if count < wanted[name].partitions}
        if too_small:
            await admin.create_partitions(
                {name: NewPartitions(total_count=wanted[name].partitions) for name in too_small}
            )
        if created or grant:
            await grant_prefix(admin, prefix)
    finally:
        await admin.close()

    results = []
    for name, topic in wanted.items():
        if name in created:
            action = TopicAction.CREATED
        elif name in too_small:
            action = TopicAction.PARTITIONS_ADDED
        else:
            action = TopicAction.EXISTS
        results.append(TopicResult(name, action, max(topic.partitions, counts[name])))
    return results


async def group_lag(settings: Settings, group: str, topics: Iterable[KafkaTopic], prefix: str = "") -> int:
    """Records in `topics` past what `group` has committed, over every partition: a partition the group
    never committed on counts from its start, so the first record of a quiet topic is not missed."""
    partitions = [TopicPartition(t.full_name(prefix), p) for t in topics for p in range(t.partitions)]
    admin = await _connected_admin(settings)
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    try:
        await consumer.start()
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await consumer.stop()
        await admin.close()
    return sum(
        max(0, end - max(0, committed[tp].offset if tp in committed else 0)) for tp, end in ends.items()
    )


async def delete_prefixed_topics(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (the registry's, their dead letters and Faust's
    changelogs): a run on topics of its own cleans up after itself. Each partition holds file handles on
    the broker, so a broker that keeps every run's topics eventually runs out of them."""
    if not prefix:
        raise ValueError("refusing to delete every topic: give a non-empty prefix")
    admin = await _connected_admin(settings)
    try:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
        if names:
            await admin.delete_topics(names)
        await revoke_prefix(admin, prefix)
    finally:
        await admin.close()
    return names
