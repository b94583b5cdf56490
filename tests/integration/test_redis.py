"""Redis Streams with the event codec: consumer groups, acknowledgement, reclaim, trimming."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as redis

from runtime.settings import Settings
from schemas import CODEC, Event, OrderRequested
from topics import Streams

pytestmark = pytest.mark.integration


def stream_fields(event: Event) -> dict[Any, Any]:
    return dict(CODEC.to_stream_fields(event))  # redis-py's field types are invariant unions


def order() -> OrderRequested:
    return OrderRequested(
        order_id=f"ord-{uuid.uuid4().hex[:12]}",
        account_id="acct-1",
        symbol="ETH/USDT",
        side="sell",
        order_type="market",
        quantity=Decimal("1.2500"),
    )


async def test_xadd_xreadgroup_xack(settings: Settings, redis_client: redis.Redis) -> None:
    stream = Streams.ORDER_REQUESTS.full_name(settings.topic_prefix)
    sent = [order() for _ in range(5)]
    for event in sent:
        await redis_client.xadd(stream, stream_fields(event))
    await redis_client.xgroup_create(stream, "risk", id="0")

    response: Any = await redis_client.xreadgroup("risk", "consumer-a", {stream: ">"}, count=10, block=2000)
    entries = response[0][1]
    assert [CODEC.from_stream_fields(fields) for _, fields in entries] == sent
    assert (await redis_client.xpending(stream, "risk"))["pending"] == 5

    assert await redis_client.xack(stream, "risk", *[entry_id for entry_id, _ in entries]) == 5
    assert (await redis_client.xpending(stream, "risk"))["pending"] == 0
    again = await redis_client.xreadgroup("risk", "consumer-a", {stream: ">"}, count=10, block=100)
    assert again == []


async def test_unacknowledged_entry_is_reclaimed_by_another_consumer(
    settings: Settings, redis_client: redis.Redis
) -> None:
    stream = Streams.ORDER_EXECUTIONS.full_name(settings.topic_prefix)
    event = order()
    entry_id = await redis_client.xadd(stream, stream_fields(event))
    await redis_client.xgroup_create(stream, "workflows", id="0")
    await redis_client.xreadgroup("workflows", "doomed", {stream: ">"}, count=1)  # read, never acknowledged

    await asyncio.sleep(0.2)
    _, claimed, _ = await redis_client.xautoclaim(
        stream, "workflows", "rescuer", min_idle_time=100, start_id="0-0"
    )
    assert [CODEC.from_stream_fields(fields) for _, fields in claimed] == [event]
    details = await redis_client.xpending_range(stream, "workflows", min="-", max="+", count=10)
    assert details[0]["message_id"] == entry_id
    assert details[0]["consumer"] == b"rescuer"
    assert details[0]["times_delivered"] == 2


async def test_approximate_maxlen_trims_old_entries(settings: Settings, redis_client: redis.Redis) -> None:
    stream = Streams.ALERTS.full_name(settings.topic_prefix) + ".trim"
    fields = stream_fields(order())
    for _ in range(1200):
        await redis_client.xadd(stream, fields, maxlen=100, approximate=True)
    length = await redis_client.xlen(stream)
    assert 100 <= length < 1200
