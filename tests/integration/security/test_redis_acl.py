"""Redis ACL users: no anonymous client, and each process kind's user can do its job and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import AuthenticationError, NoPermissionError

from bridge.bus import StreamBus
from bridge.follow import noted_positions
from runtime.clients import redis_client
from runtime.settings import Settings, load_settings
from schemas import AlertTriggered
from tests.integration.test_redis import order
from topics import Streams

pytestmark = pytest.mark.integration


def alert() -> AlertTriggered:
    return AlertTriggered(source="acl-test", severity="info", message=f"acl test {uuid.uuid4().hex[:8]}")


@pytest.fixture
def own(settings: Settings) -> Settings:
    """Stream names of this test's own (under the run's prefix, as the ACL patterns expect)."""
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})


@pytest.fixture
async def clients() -> AsyncIterator[dict[str, redis.Redis]]:
    """A client of each process kind's user, as that process makes it from its credentials file."""
    made = {kind: redis_client(load_settings(kind=kind)) for kind in ("bridge", "workflows", "smoke")}
    yield made
    for client in made.values():
        await client.aclose()


async def test_anonymous_and_wrong_password_clients_are_refused(settings: Settings) -> None:
    anonymous = redis.from_url(settings.redis_url)
    with pytest.raises(AuthenticationError):
        await anonymous.ping()
    await anonymous.aclose()
    for user in ("bridge", "default"):
        wrong = redis.from_url(settings.redis_url, username=user, password="not-the-password")
        with pytest.raises(AuthenticationError):
            await wrong.ping()
        await wrong.aclose()


async def test_bridge_publishes_and_consumes_streams_but_cannot_flush(
    own: Settings, clients: dict[str, redis.Redis]
) -> None:
    bus = StreamBus(clients["bridge"], own.topic_prefix)
    stream = Streams.ORDER_REQUESTS
    assert await bus.publish(stream, order()) is not None
    await bus.ensure_group(stream, "acl-test")
    entries = await bus.read_new(stream, "acl-test", "c1", count=10, block_ms=1000)
    assert len(entries) == 1
    await bus.settle(stream, "acl-test", [entries[0].entry_id])
    with pytest.raises(NoPermissionError):
        await clients["bridge"].flushall()
    with pytest.raises(NoPermissionError):  # a key outside the streams' names
        await clients["bridge"].xadd("elsewhere", {"k": "v"})


async def test_workflows_publish_and_follow_but_cannot_consume_in_groups_or_delete(
    own: Settings, clients: dict[str, redis.Redis]
) -> None:
    bus = StreamBus(clients["workflows"], own.topic_prefix)
    stream = Streams.MONITOR_ALERTS
    assert await bus.publish(stream, alert()) is not None
    assert await clients["workflows"].xrevrange(bus.name(stream), count=1)
    with pytest.raises(NoPermissionError):
        await bus.ensure_group(stream, "acl-test")
    with pytest.raises(NoPermissionError):
        await clients["workflows"].delete(bus.name(stream))
    key = f"{own.topic_prefix}zvt.place_order.positions:acl-test"
    noted = await noted_positions(bus, (stream,), key, keep_seconds=60)  # place_order notes where it reads
    assert await bus.publish(stream, alert()) is not None
    assert await noted_positions(bus, (stream,), key, keep_seconds=60) == noted  # not the newer entry's
    with pytest.raises(NoPermissionError):  # a key outside the streams' names
        await clients["workflows"].set("elsewhere", "v")


async def test_smoke_uses_the_alerts_stream_only(own: Settings, clients: dict[str, redis.Redis]) -> None:
    alerts = Streams.ALERTS.full_name(own.topic_prefix)
    assert await clients["smoke"].xadd(alerts, {"k": "v"})
    with pytest.raises(NoPermissionError):
        await clients["smoke"].xadd(Streams.ORDER_REQUESTS.full_name(own.topic_prefix), {"k": "v"})


async def test_admin_may_configure(redis_client: redis.Redis) -> None:
    assert "dir" in await redis_client.config_get("dir")
