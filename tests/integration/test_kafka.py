"""Schema-encoded events through the real Kafka broker, plain and inside transactions."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from runtime.clients import kafka_options
from runtime.settings import Settings
from schemas import CODEC, OrderRejected, OrderRequested, RejectReason
from topics import Topics

pytestmark = pytest.mark.integration


def order(account: str = "acct-1", quantity: str = "0.015") -> OrderRequested:
    return OrderRequested(
        order_id=f"ord-{uuid.uuid4().hex[:12]}",
        account_id=account,
        symbol="BTC/USDT",
        side="buy",
        order_type="limit",
        quantity=Decimal(quantity),
        limit_price=Decimal("61234.50"),
    )


async def read_partition(
    settings: Settings,
    topic: str,
    partition: int,
    *,
    isolation: str = "read_committed",
    first_wait: float = 5.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything currently readable on one partition (under the given isolation level)."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        isolation_level=isolation,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            batch = await consumer.getmany(tp, timeout_ms=int(first_wait * 1000))
            if not batch:
                return records
            records += batch[tp]
            first_wait = 1.0  # then stop at the first quiet second
    finally:
        await consumer.stop()


async def committed_offset(
    settings: Settings, group: str, tp: TopicPartition, within: float = 15.0
) -> int | None:
    """The group's committed offset, once the coordinator has applied the transaction's markers."""
    deadline = asyncio.get_running_loop().time() + within
    consumer = AIOKafkaConsumer(
        **kafka_options(settings), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        while True:
            offset = await consumer.committed(tp)
            if offset is not None or asyncio.get_running_loop().time() > deadline:
                return offset
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def test_event_survives_a_produce_consume_round_trip(kafka_topics: Settings) -> None:
    settings, topic = kafka_topics, Topics.ORDERS_REQUESTED
    event = order(account="acct-plain")
    producer = AIOKafkaProducer(
        **kafka_options(settings), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic.full_name(settings.topic_prefix), CODEC.encode(event), key=topic.key_for(event)
        )
    finally:
        await producer.stop()
    records = await read_partition(settings, topic.full_name(settings.topic_prefix), meta.partition)
    received = [CODEC.decode(r.value) for r in records if r.offset == meta.offset]
    assert received == [event]
    assert records[-1].key == b"acct-plain"


async def test_committed_transaction_is_visible_and_aborted_one_is_not(kafka_topics: Settings) -> None:
    settings, topic = kafka_topics, Topics.ORDERS_REQUESTED
    name = topic.full_name(settings.topic_prefix)
    kept, dropped = order(account="acct-tx"), order(account="acct-tx")
    producer = AIOKafkaProducer(
        **kafka_options(settings), transactional_id=f"test-tx-{uuid.uuid4()}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            meta = await producer.send_and_wait(name, CODEC.encode(kept), key=topic.key_for(kept))
        with pytest.raises(RuntimeError, match="abort me"):  # noqa: PT012  (the block is the transaction)
            async with producer.transaction():
                await producer.send_and_wait(name, CODEC.encode(dropped), key=topic.key_for(dropped))
                raise RuntimeError("abort me")
    finally:
        await producer.stop()

    committed = [CODEC.decode(r.value) for r in await read_partition(settings, name, meta.partition)]
    uncommitted = [
        CODEC.decode(r.value)
        for r in await read_partition(settings, name, meta.partition, isolation="read_uncommitted")
    ]
    assert kept in committed
    assert dropped not in committed
    # The aborted record was written to the log: only the transaction marker hides it.
    assert kept in uncommitted
    assert dropped in uncommitted


async def test_consume_transform_produce_commits_offsets_in_the_transaction(kafka_topics: Settings) -> None:
    """The exactly-once loop: output records and the input offsets commit (or abort) together."""
    settings = kafka_topics
    source, sink = Topics.ORDERS_REQUESTED, Topics.ORDERS_REJECTED
    source_name, sink_name = source.full_name(settings.topic_prefix), sink.full_name(settings.topic_prefix)
    incoming = order(account="acct-eos")
    setup = AIOKafkaProducer(**kafka_options(settings))
    await setup.start()
    try:
        in_meta = await setup.send_and_wait(source_name, CODEC.encode(incoming), key=source.key_for(incoming))
    finally:
        await setup.stop()

    group = f"test-eos-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(source_name, in_meta.partition)
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        group_id=group,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        **kafka_options(settings), transactional_id=f"test-eos-{uuid.uuid4()}"
    )
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, in_meta.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        request = CODEC.decode(record.value)
        assert isinstance(request, OrderRequested)
        rejection = OrderRejected.for_order(request, RejectReason.KILL_SWITCH, "kill switch engaged")
        async with producer.transaction():
            out_meta = await producer.send_and_wait(
                sink_name, CODEC.encode(rejection), key=sink.key_for(rejection)
            )
            await producer.send_offsets_to_transaction({tp: record.offset + 1}, group)
    finally:
        await producer.stop()
        await consumer.stop()

    assert await committed_offset(settings, group, tp) == in_meta.offset + 1
    out = [CODEC.decode(r.value) for r in await read_partition(settings, sink_name, out_meta.partition)]
    assert rejection in out
    assert rejection.causation_id == incoming.event_id
    assert rejection.correlation_id == incoming.correlation_id
