"""Under ZVT_PROCESSING_GUARANTEE=exactly_once the agents' outputs are written in Kafka transactions.

A transaction's commit marker takes an offset of its own, so a partition written transactionally ends
past its last record; idempotent mode writes no markers.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.clients import kafka_options
from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import REPO_ROOT, Settings
from schemas import OrderExecuted, OrderRequested
from topics import Topics

from .support import (
    names,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration


async def records_and_end(settings: Settings, topic: str) -> tuple[int, int]:
    """How many records the topic holds, and the sum of its partitions' end offsets."""
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(Topics.ORDERS_EXECUTED.partitions)]
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count = 0
        while batch := await consumer.getmany(timeout_ms=1000):
            count += sum(len(records) for records in batch.values())
        return count, sum(ends.values())
    finally:
        await consumer.stop()


@pytest.mark.parametrize("guarantee", ["exactly_once", "idempotent"])
async def test_outputs_are_transactional_only_under_exactly_once(
    pipeline_topics: Settings, tmp_path: Path, guarantee: str
) -> None:
    settings = pipeline_topics
    port = free_port()
    log = tmp_path / "worker.log"
    env = worker_env(settings, REPO_ROOT / "config" / "trading.toml", port) | {
        "ZVT_PROCESSING_GUARANTEE": guarantee
    }
    orders = [
        OrderRequested(
            order_id=f"eos-{i}-{uuid.uuid4().hex[:6]}",
            account_id=f"acct-{i}",
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            quantity=Decimal("0.01"),
        )
        for i in range(3)
    ]
    executed = names(settings, Topics.ORDERS_EXECUTED)
    async with read_topics(settings, executed) as output:
        with start_worker(env, log):
            await publish_events(settings, [quote("binance", "BTC/USDT", "60000", "60001", "5", "5")])
            await wait_for_books(port, {"binance:BTC/USDT"})
            await publish_events(settings, orders)
            await wait_until(
                lambda: len(output.of_type(OrderExecuted)) >= len(orders), 90, lambda: worker_log_tail(log)
            )
    count, end = await records_and_end(settings, executed[0])
    assert count == len(orders)
    if guarantee == "exactly_once":
        assert end > count, "no transaction markers: the outputs were not written in transactions"
    else:
        assert end == count
