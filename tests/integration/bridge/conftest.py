"""Bridge fixtures: a bus with stream names of the test's own, and a Redis restart that always comes back."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from bridge.bus import StreamBus
from runtime import clients
from runtime.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

REDIS_SCRIPT = REPO_ROOT / "deploy" / "local" / "redis.sh"


@pytest.fixture
def test_settings(settings: Settings) -> Settings:
    """Names unique to this test: no other test's entries, groups or published ids."""
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})


@pytest.fixture
async def bus(test_settings: Settings) -> AsyncIterator[StreamBus]:
    client = clients.redis_client(test_settings)
    yield StreamBus(client, test_settings.topic_prefix)
    await client.aclose()


RestartRedis = Callable[[str], Awaitable[None]]


@pytest.fixture
async def restart_redis(redis_client: redis.Redis) -> AsyncIterator[RestartRedis]:
    """`await restart("stop")` stops Redis with deploy/local/redis.sh, `"kill"` SIGKILLs it; either way
    redis.sh starts it again, here and (whatever the test did) at teardown. The run directory is the running
    Redis's own (its data dir's parent), so the restarted server reads the same AOF."""
    config: Any = await redis_client.config_get("dir")
    data_dir = Path(config["dir"])
    env = {**os.environ, "ZVT_RUN_DIR": str(data_dir.parent)}
    pid = int((data_dir / "redis.pid").read_text())

    def script(verb: str) -> None:
        subprocess.run(
            ["bash", str(REDIS_SCRIPT), verb], env=env, check=True, timeout=60, capture_output=True
        )

    async def restart(how: str) -> None:
        if how == "kill":
            os.kill(pid, 9)
        else:
            script("stop")
        script("start")

    try:
        yield restart
    finally:
        script("start")  # a no-op when it runs
