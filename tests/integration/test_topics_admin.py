"""`zvt topics create` against the real broker: creates everything once, then changes nothing."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from topics import Topics
from topics.admin import TopicAction, ensure_topics
from zvt.settings import Settings

pytestmark = pytest.mark.integration


async def test_create_is_idempotent_and_applies_layout(settings: Settings) -> None:
    prefix = f"admin-{uuid.uuid4().hex[:8]}."
    first = await ensure_topics(settings.kafka_bootstrap, prefix)
    expected = {topic.full_name(prefix): topic for topic in Topics.with_dead_letters()}
    assert {r.name: r.action for r in first} == dict.fromkeys(expected, TopicAction.CREATED)
    second = await ensure_topics(settings.kafka_bootstrap, prefix)
    assert {r.action for r in second} == {TopicAction.EXISTS}

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(list(expected))}
        assert described == {name: topic.partitions for name, topic in expected.items()}
        books = Topics.ORDER_BOOKS.full_name(prefix)
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, books)])
        entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
        assert entries["cleanup.policy"] == "compact"
    finally:
        await admin.close()


async def test_too_few_partitions_are_grown_never_shrunk(settings: Settings) -> None:
    prefix = f"grow-{uuid.uuid4().hex[:8]}."
    name = Topics.ORDERS_EXECUTED.full_name(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    [result] = await ensure_topics(settings.kafka_bootstrap, prefix, [Topics.ORDERS_EXECUTED])
    assert result.action is TopicAction.PARTITIONS_ADDED
    assert result.partitions == Topics.ORDERS_EXECUTED.partitions
