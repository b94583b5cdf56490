"""`zvt topics create` against the real broker: creates everything once, then changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from runtime.clients import kafka_options
from runtime.settings import Settings
from topics import StateChangelogs, Topics
from topics.admin import TopicAction, delete_prefixed_topics, ensure_topics

pytestmark = pytest.mark.integration


async def test_create_is_idempotent_and_applies_layout(settings: Settings) -> None:
    prefix = f"{settings.topic_prefix}admin-{uuid.uuid4().hex[:8]}."
    first = await ensure_topics(settings, prefix)
    every = (*Topics.with_dead_letters(), *StateChangelogs.all())
    expected = {topic.full_name(prefix): topic for topic in every}
    assert {r.name: r.action for r in first} == dict.fromkeys(expected, TopicAction.CREATED)
    second = await ensure_topics(settings, prefix)
    assert {r.action for r in second} == {TopicAction.EXISTS}

    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        described = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(list(expected))}
        assert described == {name: topic.partitions for name, topic in expected.items()}
        books = Topics.ORDER_BOOKS.full_name(prefix)
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, books)])
        entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
        assert entries["cleanup.policy"] == "compact"
        changelog = StateChangelogs.ORDERS.full_name(prefix)
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, changelog)])
        assert {entry[0]: entry[1] for entry in configs[0].resources[0][4]}["cleanup.policy"] == "compact"
    finally:
        await admin.close()


async def test_too_few_partitions_are_grown_never_shrunk(settings: Settings) -> None:
    prefix = f"{settings.topic_prefix}grow-{uuid.uuid4().hex[:8]}."
    name = Topics.ORDERS_EXECUTED.full_name(prefix)
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    [result] = await ensure_topics(settings, prefix, [Topics.ORDERS_EXECUTED])
    assert result.action is TopicAction.PARTITIONS_ADDED
    assert result.partitions == Topics.ORDERS_EXECUTED.partitions


async def test_a_prefix_is_deleted_and_nothing_else(settings: Settings) -> None:
    gone, kept = (f"{settings.topic_prefix}{name}-{uuid.uuid4().hex[:8]}." for name in ("gone", "kept"))
    await ensure_topics(settings, gone, [Topics.PRICES, Topics.ALERTS])
    await ensure_topics(settings, kept, [Topics.PRICES])
    deleted = await delete_prefixed_topics(settings, gone)
    assert deleted == sorted([Topics.ALERTS.full_name(gone), Topics.PRICES.full_name(gone)])
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        for _ in range(50):  # the broker deletes asynchronously
            names = set(await admin.list_topics())
            if not any(name.startswith(gone) for name in names):
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    assert not any(name.startswith(gone) for name in names)
    assert Topics.PRICES.full_name(kept) in names
    with pytest.raises(ValueError, match="non-empty prefix"):
        await delete_prefixed_topics(settings, "")
