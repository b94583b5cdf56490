"""Creates the registry's Kafka topics on a broker, idempotently (`zvt topics create`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from topics.registry import KafkaTopic, Topics


class TopicAction(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    PARTITIONS_ADDED = "partitions added"


@dataclass(frozen=True)
class TopicResult:
    name: str
    action: TopicAction
    partitions: int


async def _connected_admin(bootstrap: str) -> AIOKafkaAdminClient:
    # A broker that has just opened its port may not serve metadata yet: retry for a while.
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        stop=stop_after_delay(60),
        wait=wait_exponential(multiplier=0.2, max=3),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="zvt-topics")
            await admin.start()
            return admin
    raise AssertionError("unreachable")


async def ensure_topics(
    bootstrap: str, prefix: str = "", topics: Iterable[KafkaTopic] | None = None
) -> list[TopicResult]:
    """Create missing topics and grow partition counts that are too small; never delete or shrink."""
    wanted = {topic.full_name(prefix): topic for topic in (topics or Topics.with_dead_letters())}
    admin = await _connected_admin(bootstrap)
    try:
        existing_partitions = {
            description["topic"]: len(description["partitions"])
            for description in await admin.describe_topics(list(wanted))
            if description["error_code"] == 0
        }
        missing = [name for name in wanted if name not in existing_partitions]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=wanted[name].partitions,
                        replication_factor=1,
                        topic_configs=wanted[name].config(),
                    )
                    for name in missing
                ]
            )
        too_small = {
            name: NewPartitions(total_count=wanted[name].partitions)
            for name, count in existing_partitions.items()
            if count < wanted[name].partitions
        }
        if too_small:
            await admin.create_partitions(too_small)
    finally:
        await admin.close()

    results = []
    for name, topic in wanted.items():
        if name in missing:
            action = TopicAction.CREATED
        elif name in too_small:
            action = TopicAction.PARTITIONS_ADDED
        else:
            action = TopicAction.EXISTS
        results.append(TopicResult(name, action, max(topic.partitions, existing_partitions.get(name, 0))))
    return results
