"""faust-streaming works with the pinned broker: an exactly-once agent consumes and produces events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runtime.clients import kafka_options
from runtime.processes import background_process
from runtime.settings import Settings, load_settings
from schemas import CODEC, OrderRejected, OrderRequested
from topics import Topics

pytestmark = pytest.mark.integration


@pytest.fixture(params=[False, True], ids=["clear-text", "tls"])
def tls(request: pytest.FixtureRequest) -> bool:
    """Whether the worker and this test use the stack's TLS endpoints (ZVT_TLS=1: SASL_SSL, the CA)."""
    return bool(request.param)


@pytest.fixture
def faust_worker(kafka_topics: Settings, tls: bool) -> Iterator[subprocess.Popen[bytes]]:
    with background_process(
        [sys.executable, "-m", "faust", "-A", "tests.integration.faust_probe", "worker", "-l", "warn"],
        env=os.environ | {"ZVT_TOPIC_PREFIX": kafka_topics.topic_prefix, "ZVT_TLS": "1" if tls else "0"},
        stop_timeout=60,
        capture=True,
    ) as worker:
        yield worker


async def test_faust_agent_round_trip(
    kafka_topics: Settings, tls: bool, faust_worker: subprocess.Popen[bytes]
) -> None:
    settings = load_settings(tls=tls).model_copy(update={"topic_prefix": kafka_topics.topic_prefix})
    assert settings.kafka_security_protocol == ("SASL_SSL" if tls else "SASL_PLAINTEXT")
    orders = [
        OrderRequested(
            order_id=f"ord-{uuid.uuid4().hex[:10]}",
            account_id=f"acct-{i % 4}",
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            quantity=Decimal("0.001"),
        )
        for i in range(20)
    ]
    sent = {order.event_id for order in orders}
    producer = AIOKafkaProducer(**kafka_options(settings))
    await producer.start()
    try:
        for order in orders:
            await producer.send(
                Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix),
                CODEC.encode(order),
                key=Topics.ORDERS_REQUESTED.key_for(order),
            )
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        Topics.ORDERS_REJECTED.full_name(settings.topic_prefix),
        **kafka_options(settings),
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    rejected: dict[str, OrderRejected] = {}
    try:
        async with asyncio.timeout(120):
            while len(rejected) < len(orders):
                if faust_worker.poll() is not None:
                    output = faust_worker.stdout.read().decode() if faust_worker.stdout else ""
                    pytest.fail(f"faust worker exited: {output}")
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        event = CODEC.decode(record.value)
                        assert isinstance(event, OrderRejected)
                        if event.causation_id in sent:  # not an earlier parameter's
                            rejected[event.order_id] = event
    finally:
        await consumer.stop()

    assert set(rejected) == {order.order_id for order in orders}
    for order in orders:
        assert rejected[order.order_id].causation_id == order.event_id
