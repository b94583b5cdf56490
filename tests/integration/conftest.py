"""Integration fixtures: the real local stack (`zvt stack up`), with topic names unique to this run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from topics.admin import ensure_topics
from zvt.settings import Settings, load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Stack settings with a run-unique prefix, so reruns never read an earlier run's messages."""
    return load_settings().model_copy(update={"topic_prefix": f"test-{uuid.uuid4().hex[:10]}."})


@pytest.fixture(scope="session")
async def kafka_topics(settings: Settings) -> Settings:
    await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
    return settings


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[redis.Redis]:
    client = redis.from_url(settings.redis_url)
    yield client
    await client.aclose()
