"""Each pipeline test gets topics (and a consumer group) of its own: no state leaks between tests."""

from __future__ import annotations

import uuid

import pytest

from runtime.settings import Settings
from topics.admin import ensure_topics


@pytest.fixture
async def pipeline_topics(settings: Settings) -> Settings:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own, own.topic_prefix)
    return own
