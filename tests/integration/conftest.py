"""Integration fixtures: the real local stack (`zvt stack up`), with topic names unique to this run."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis

from runtime import clients
from runtime.settings import Settings, load_settings
from topics.admin import delete_prefixed_topics, ensure_topics

pytestmark = pytest.mark.integration


def _unreachable(settings: Settings) -> list[str]:
    endpoints = {
        "kafka": settings.kafka_bootstrap,
        "redis": urlsplit(settings.redis_url).netloc,
        "postgres": urlsplit(settings.postgres_dsn).netloc.rpartition("@")[2],
        "hatchet": settings.hatchet_client_host_port,
    }
    down = []
    for service, address in endpoints.items():
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError:
            down.append(f"{service} ({address})")
    return down


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Stack settings with a run-unique prefix, so reruns never read an earlier run's messages."""
    settings = load_settings()
    down = _unreachable(settings)
    if down:
        pytest.fail(f"stack not running: {', '.join(down)}; start it with `bash deploy/local/stack.sh up`")
    if not settings.hatchet_client_token.get_secret_value():
        pytest.fail(
            "no Hatchet client token in the environment or .run/zvt.env: run `bash deploy/local/stack.sh up`"
        )
    return settings.model_copy(update={"topic_prefix": f"test-{uuid.uuid4().hex[:10]}."})


@pytest.fixture(scope="session", autouse=True)
async def delete_the_runs_topics(settings: Settings) -> AsyncIterator[None]:
    """Every topic this run made (all under the run's prefix) is deleted at its end: the broker keeps file
    handles per partition, and a stack that keeps every run's topics runs out of them."""
    yield
    await delete_prefixed_topics(settings, settings.topic_prefix)


@pytest.fixture(scope="session")
async def kafka_topics(settings: Settings) -> Settings:
    await ensure_topics(settings, settings.topic_prefix)
    return settings


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[redis.Redis]:
    client = clients.redis_client(settings)
    yield client
    await client.aclose()
