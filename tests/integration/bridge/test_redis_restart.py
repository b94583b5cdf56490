"""Redis restarted under a publishing producer: every publish that returned is in the stream afterwards.

This holds because deploy/local/redis.sh runs Redis with `appendonly yes` and `appendfsync always` (the AOF
is fsynced before a write is acknowledged). Publishes that failed during the outage are retried, and the
idempotent publish makes a retry of one that did land harmless.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.flows import FlowGenerator
from bridge.bus import StreamBus, redis_retrying
from tests.integration.bridge.conftest import RestartRedis
from topics import Streams

pytestmark = pytest.mark.integration

STREAM = Streams.ORDER_EXECUTIONS


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_nothing_acknowledged_is_lost_across_a_redis_restart(
    bus: StreamBus, restart_redis: RestartRedis, how: str
) -> None:
    events = [e for e in FlowGenerator(seed=9).events(40_000) if isinstance(e, STREAM.value_types)][:6000]
    batches = [events[start : start + 50] for start in range(0, len(events), 50)]
    acknowledged: list[str] = []
    retried = 0

    async def produce() -> None:
        nonlocal retried
        for batch in batches:
            async for attempt in redis_retrying(give_up_after=60):
                with attempt:
                    retried += attempt.retry_state.attempt_number > 1
                    await bus.publish_many(STREAM, batch)
            acknowledged.extend(str(e.event_id) for e in batch)
            await asyncio.sleep(0.002)

    producer = asyncio.create_task(produce())
    async with asyncio.timeout(30):
        while len(acknowledged) < len(events) // 4:  # noqa: ASYNC110  (a counter, not an event)
            await asyncio.sleep(0.01)
    before_restart = len(acknowledged)
    await restart_redis(how)
    await asyncio.wait_for(producer, 90)

    assert 0 < before_restart < len(events)
    assert retried > 0  # the producer did run into the outage
    entries: Any = await bus.client.xrange(bus.name(STREAM))
    stored = [fields[b"event_id"].decode() for _, fields in entries]
    assert stored == acknowledged  # all of them, in order, once each
    assert stored == [str(e.event_id) for e in events]
