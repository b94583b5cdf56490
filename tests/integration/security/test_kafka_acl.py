"""Kafka SASL/SCRAM principals and their ACLs: no anonymous client, and each process kind's principal can do
its job and is refused one thing it must not do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from runtime.clients import kafka_options
from runtime.settings import Settings, load_settings
from topics import Topics
from topics.registry import KafkaTopic

pytestmark = pytest.mark.integration

TOPIC_AUTHORIZATION_FAILED = 29


def as_kind(settings: Settings, kind: str) -> Settings:
    """The settings a process of `kind` runs with, on this run's topics."""
    return load_settings(kind=kind).model_copy(update={"topic_prefix": settings.topic_prefix})


@asynccontextmanager
async def producer_of(settings: Settings, kind: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(**kafka_options(as_kind(settings, kind)), enable_idempotence=False, acks=1)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def send(settings: Settings, kind: str, topic: KafkaTopic) -> None:
    async with producer_of(settings, kind) as producer:
        await asyncio.wait_for(
            producer.send_and_wait(topic.full_name(settings.topic_prefix), b"{}", key=b"acl-test"), 30
        )


async def read_one(settings: Settings, kind: str, topic: KafkaTopic, offset: int) -> bytes | None:
    consumer = AIOKafkaConsumer(**kafka_options(as_kind(settings, kind)), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic.full_name(settings.topic_prefix), 0)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), 30)
        return record.value
    finally:
        await consumer.stop()


async def test_no_credentials_or_a_wrong_password_is_refused(kafka_topics: Settings) -> None:
    anonymous = AIOKafkaProducer(bootstrap_servers=kafka_topics.kafka_bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await anonymous.start()
    await anonymous.stop()
    options = kafka_options(as_kind(kafka_topics, "publisher")) | {"sasl_plain_password": "not-the-password"}
    wrong = AIOKafkaProducer(**options, request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await wrong.start()
    await wrong.stop()


async def test_publisher_writes_the_input_topics_only(kafka_topics: Settings) -> None:
    for topic in (Topics.ORDERS_REQUESTED, Topics.MARKET_TICKS):
        await send(kafka_topics, "publisher", topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await send(kafka_topics, "publisher", Topics.ORDERS_EXECUTED)  # a forged fill


async def test_sink_and_monitor_read_but_cannot_produce(kafka_topics: Settings) -> None:
    async with producer_of(kafka_topics, "admin") as producer:
        name = Topics.ALERTS.full_name(kafka_topics.topic_prefix)
        sent = await producer.send_and_wait(name, b"alert", key=b"acl", partition=0)
    for kind in ("sink", "monitor"):
        assert await read_one(kafka_topics, kind, Topics.ALERTS, sent.offset) == b"alert"
        with pytest.raises(TopicAuthorizationFailedError):
            await send(kafka_topics, kind, Topics.ORDERS_EXECUTED)


async def test_api_writes_orders_and_cancels_reads_everything_and_forges_nothing(
    kafka_topics: Settings,
) -> None:
    for topic in (Topics.ORDERS_REQUESTED, Topics.ORDER_CHANGES_REQUESTED):
        await send(kafka_topics, "api", topic)
    for refused in (Topics.ORDERS_EXECUTED, Topics.MARKET_TICKS):  # a forged fill, a made-up price
        with pytest.raises(TopicAuthorizationFailedError):
            await send(kafka_topics, "api", refused)
    async with producer_of(kafka_topics, "admin") as producer:
        name = Topics.POSITIONS.full_name(kafka_topics.topic_prefix)
        sent = await producer.send_and_wait(name, b"position", key=b"acl", partition=0)
    assert await read_one(kafka_topics, "api", Topics.POSITIONS, sent.offset) == b"position"


async def test_bridge_writes_its_routes_targets_only(kafka_topics: Settings) -> None:
    await send(kafka_topics, "bridge", Topics.ORDERS_REQUESTED)  # from the workflows' Redis stream
    with pytest.raises(TopicAuthorizationFailedError):
        await send(kafka_topics, "bridge", Topics.ORDERS_EXECUTED)


async def test_agents_run_transactions_but_cannot_create_topics(kafka_topics: Settings) -> None:
    settings = as_kind(kafka_topics, "agents")
    producer = AIOKafkaProducer(
        **kafka_options(settings), transactional_id=f"{settings.topic_prefix}zvt-agents.acl.{uuid.uuid4()}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(Topics.ORDERS_EXECUTED.full_name(settings.topic_prefix), b"{}")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(f"{settings.topic_prefix}acl.rogue", 1, 1)])
    finally:
        await admin.close()
    assert [error for _, error, _ in response.topic_errors] == [TOPIC_AUTHORIZATION_FAILED]
