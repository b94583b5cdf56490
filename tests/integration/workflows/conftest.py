"""The whole flow for workflow tests: agents, bridge and a workflow worker, each a real process, on topics,
streams and a Hatchet namespace of this module's own (the engine is shared with other users)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.processes import background_process, free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import Event, OrderExecuted, OrderRequested
from tests.integration.pipeline.support import (
    PipelineOutput,
    names,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
)
from topics import Topics
from topics.admin import ensure_topics

# Read by the Hatchet client of this process and inherited by the workers started here: workflow names are
# namespaced, so another worker on the shared engine never takes these runs.
assert "hatchet_workflows.client" not in sys.modules, "the Hatchet client was created before its namespace"
os.environ["HATCHET_CLIENT_NAMESPACE"] = f"test_{uuid.uuid4().hex[:8]}"
# No cron schedule left behind in the shared engine for a namespace nobody serves after the tests.
os.environ["ZVT_MONITOR_CRON"] = ""

CONFIG = """
[default_limits]
max_order_notional = "100000"
max_position_notional = "500000"
max_gross_exposure = "1000000"
max_orders_per_window = 1000
rate_window_seconds = "1"

[paper]
latency_ms = "5"
"""

# One venue per symbol keeps each order's fill obvious; sizes cover every order of the tests.
BOOKS = (
    quote("binance", "BTC/USDT", "60000", "60001", "5", "5"),
    quote("okx", "ETH/USDT", "2999.9", "3000", "100", "100"),
    quote("kraken", "LTC/USDT", "70", "70.1", "1000", "1000"),
    quote("binance", "DOGE/USDT", "0.1", "0.1001", "1000000", "1000000"),
    quote("bybit", "XRP/USDT", "0.5", "0.5001", "100000", "100000"),
    quote("coinbase", "ADA/USDT", "0.35", "0.3501", "100000", "100000"),
)
OUTPUT_TOPICS = (
    Topics.ORDERS_REQUESTED,
    Topics.ORDERS_VALIDATED,
    Topics.ORDERS_REJECTED,
    Topics.ORDERS_ROUTED,
    Topics.ORDERS_CREATED,
    Topics.ORDERS_EXECUTED,
    Topics.POSITIONS,
    Topics.REBALANCES,
    Topics.RISK_BREACHES,
    Topics.ALERTS,
)


@dataclass
class Flow:
    settings: Settings
    env: dict[str, str]
    output: PipelineOutput
    logs: Path


@pytest.fixture(scope="module")
async def flow(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Flow]:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own, own.topic_prefix)
    logs = tmp_path_factory.mktemp("workflows")
    config = logs / "trading.toml"
    config.write_text(CONFIG)
    port = free_port()
    env = worker_env(own, config, port)
    bridge = [sys.executable, "-m", "zvt", "bridge", "--loglevel", "warning"]
    with (
        start_worker(env, logs / "agents.log"),
        background_process(bridge, env=env, log_path=logs / "bridge.log"),
    ):
        await publish_events(own, BOOKS)
        await wait_for_books(port, {f"{q.venue}:{q.symbol}" for q in BOOKS})
        async with read_topics(own, names(own, *OUTPUT_TOPICS)) as output:
            yield Flow(own, env, output, logs)


@contextlib.contextmanager
def workflow_worker(flow: Flow, name: str, **extra_env: str) -> Iterator[int]:
    """A `zvt workflows worker` process for the duration of the block; yields its pid."""
    from hatchet_workflows.worker import worker_command

    env = flow.env | extra_env
    with background_process(worker_command(name, slots=20), env=env, log_path=flow.logs / f"{name}.log") as p:
        yield p.pid


async def run_command(flow: Flow, workflow: object, *args: str) -> str:
    """`zvt <args>` with a workflow worker serving `workflow`; its stdout, after checking it exited 0."""
    name = f"wf-cli-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-m", "zvt", *args]
    with workflow_worker(flow, name):
        await serving(workflow, name)
        done = await asyncio.to_thread(
            subprocess.run, command, env=flow.env | {"COLUMNS": "200"}, capture_output=True, timeout=90
        )
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()[-2000:]
    return out


def of_order(flow: Flow, kind: type[Event], order_id: str) -> list[Event]:
    return [e for e in flow.output.of_type(kind) if getattr(e, "order_id", None) == order_id]


async def assert_placed_once(flow: Flow, order_id: str, fill_ids: list[str]) -> None:
    """Kafka holds exactly one request and one fill of the order, the fill the run reported."""

    def fills() -> list[OrderExecuted]:
        return [e for e in of_order(flow, OrderExecuted, order_id) if isinstance(e, OrderExecuted)]

    await wait_until(lambda: len(fills()) >= 1, 30, lambda: "no fill in orders.executed")
    await asyncio.sleep(2)  # a second fill, if the order had been placed twice, would be here by now
    assert len(fills()) == 1, fills()  # distinct event ids
    assert len({e.fill_id for e in fills()}) == 1
    assert len(of_order(flow, OrderRequested, order_id)) == 1
    assert fill_ids == [fills()[0].fill_id]


async def serving(workflow: object, name: str) -> None:
    from hatchet_workflows.worker import wait_for_worker_serving

    async with asyncio.timeout(60):
        await wait_for_worker_serving(workflow, worker_name=name)  # type: ignore[arg-type]
