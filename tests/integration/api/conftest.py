"""The API against the real stack: its own topics, an agent worker, the sink and `zvt api` as processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.tokens import EMPTY, Role, write_tokens
from runtime.processes import background_process, free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from topics.admin import ensure_topics

from ..pipeline.support import quote, quoting, start_worker, wait_for_books, worker_env, worker_log_tail
from ..pipeline.test_pipeline import CONFIG  # its limits; its special accounts are not used here


@dataclass
class RunningApi:
    settings: Settings
    url: str
    tokens: dict[Role, str]
    logs: Path

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def log_tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{worker_log_tail(p)}" for p in sorted(self.logs.glob("*.log")))


async def wait_healthy(url: str, within: float = 90) -> None:
    async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(within):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)


def user_of_every_role(tmp_path: Path) -> tuple[Path, dict[Role, str]]:
    """A tokens file with one user of each role (`test-<role>`), and their tokens."""
    ring, tokens = EMPTY, {}
    for role in Role:
        ring, token = ring.with_user(f"test-{role.value}", role)
        tokens[role] = token.get_secret_value()
    tokens_file = tmp_path / "api-tokens.json"
    write_tokens(tokens_file, ring)
    return tokens_file, tokens


@contextlib.asynccontextmanager
async def api_stack(
    settings: Settings, tmp_path: Path, *, paper_engine: bool = False, more_config: str = ""
) -> AsyncIterator[RunningApi]:
    """An agent worker, the sink and `zvt api` on a prefix of their own, with a token per role and a book
    of BTC/USDT on binance. `paper_engine`: the worker runs `ZVT_PAPER_ENGINE=true` (GTC limit orders rest,
    cancels are answered) and the book is quoted again every half second for the engine's clock.
    `more_config`: more of config/trading.toml after the pipeline tests' limits."""
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own, own.topic_prefix)  # and every principal's ACLs on them, the api's too
    tokens_file, tokens = user_of_every_role(tmp_path)
    config = tmp_path / "trading.toml"
    config.write_text(CONFIG + more_config)
    web_port, api_port = free_port(), free_port()
    env = worker_env(own, config, web_port) | ({"ZVT_PAPER_ENGINE": "true"} if paper_engine else {})
    api_env = os.environ | {"ZVT_TOPIC_PREFIX": own.topic_prefix, "ZVT_API_TOKENS_FILE": str(tokens_file)}
    api = [sys.executable, "-m", "zvt", "api", "--port", str(api_port)]
    sink = [sys.executable, "-m", "zvt", "sink"]
    with (
        start_worker(env, tmp_path / "worker.log"),
        background_process(sink, env=env, log_path=tmp_path / "sink.log"),
        background_process(api, env=api_env, log_path=tmp_path / "api.log"),
    ):
        running = RunningApi(own, f"http://127.0.0.1:{api_port}", tokens, tmp_path)
        try:
            await wait_healthy(running.url)
        except TimeoutError:
            pytest.fail(f"zvt api did not answer /healthz:\n{running.log_tails()}")
        async with contextlib.AsyncExitStack() as book:
            if paper_engine:
                await book.enter_async_context(quoting(own))
            else:
                await publish_events(own, [quote("binance", "BTC/USDT", "60000", "60001", "2", "1.5")])
            await wait_for_books(web_port, {"binance:BTC/USDT"})
            yield running


@pytest.fixture
async def running_api(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with api_stack(settings, tmp_path) as running:
        yield running
