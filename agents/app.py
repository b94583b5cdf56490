"""The Faust app that hosts the agent stages: their lifecycle, timers, the web monitor and `/metrics`.

One module-level app, as in Faust's own examples; agent modules register their stage
(`agents.stage.register`) and are imported explicitly by `agents.worker` (no autodiscovery), so
`zvt worker --agents market_data,orders` runs exactly those. The stages consume in batches with consumers
of their own (`agents.stage`); Faust owns when they start and stop.
"""

from __future__ import annotations

import asyncio
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy
from mode import Service

from agents.settings import get_agent_settings
from agents.stage import STAGES
from runtime.clients import faust_credentials
from runtime.settings import REPO_ROOT, get_settings
from topics.registry import AGENTS_GROUP

# Pinned in pyproject.toml: the app relies on how this version starts services, timers and pages.
FAUST_VERSION = "0.15.3"
if (found := version("faust-streaming")) != FAUST_VERSION:
    raise ImportError(f"agents need faust-streaming=={FAUST_VERSION} (pinned), found {found}")

settings = get_settings()
agent_settings = get_agent_settings()
# Faust's per-app data directory goes under the run directory, not wherever the worker was started;
# Faust creates only the last level of it.
FAUST_DIR = Path(os.environ.get("ZVT_RUN_DIR", REPO_ROOT / ".run")) / "faust"
FAUST_DIR.mkdir(parents=True, exist_ok=True)


class HostOnly(BootStrategy):
    """Faust's web server, sensors, timers and services, without its Kafka consumer and producer: the stages
    bring their own, and Faust's idle consumer thread cost the worker a tenth of its CPU (GIL)."""

    enable_kafka = False


class HostApp(faust.App):
    BootStrategy = HostOnly


app = HostApp(
    # Not the stages' consumer group (`zvt-agents`): should Faust's consumer ever be started, it must not
    # join a group whose members speak another assignment protocol.
    f"{settings.topic_prefix}{AGENTS_GROUP}.host",
    broker=f"kafka://{settings.kafka_bootstrap}",
    broker_credentials=faust_credentials(settings),
    store="memory://",
    datadir=str(FAUST_DIR / "{conf.id}"),
    topic_replication_factor=1,
    web_host=agent_settings.web_host,
    web_bind=agent_settings.web_host,
    web_port=agent_settings.web_port,
    web_in_thread=False,
)


@app.service
class StageService(Service):
    """Runs every registered stage for as long as the app runs; a stage that fails stops the worker
    (its partitions go to another worker, which resumes from the last commit)."""

    async def on_start(self) -> None:
        self._stage_tasks = [asyncio.create_task(stage.run(), name=f"stage:{stage.name}") for stage in STAGES]
        for task in self._stage_tasks:
            task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            app.log.error("stage %s failed: %r", task.get_name(), task.exception())
            self._crashing = asyncio.ensure_future(self.crash(task.exception()))  # type: ignore[arg-type]

    async def on_stop(self) -> None:
        for stage in STAGES:
            stage.stop()
        if self._stage_tasks:
            _, pending = await asyncio.wait(self._stage_tasks, timeout=15)
            for task in pending:
                task.cancel()


@app.page("/zvt/stages/")
async def stages_page(web: Any, request: Any) -> Any:
    """Each stage's batches, events, parked orders and assigned partitions, on the Faust web monitor."""
    return web.json({stage.name: vars(stage.stats) for stage in STAGES})
