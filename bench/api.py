"""`zvt api` latency beside a bare FastAPI endpoint served the same way, in the same run.

`python -m bench.api [--requests N] [--json]`. On fresh topics of a unique prefix (deleted at the end), with
an agent worker and the sink running (so that the orders fill and the account has a position in the event
store's read model), over one keep-alive HTTP connection, one request at a time:

- `bare_get`: the baseline, a FastAPI app with one GET returning a constant JSON object, no auth, no I/O,
  under uvicorn as `zvt api` is (its own process, the same options);
- `order_placement`: `POST /orders` as a trader: token check, validation into `order.requested`, signing,
  a Kafka send acknowledged by the broker (acks=all, idempotent), the 202 back (the worker and the sink
  then process every order, on the same cores);
- `kafka_send_alone`: the second baseline, what that acknowledged signed send costs by itself, from this
  process with the same producer settings: the part of a placement no API can avoid;
- `position_query`: `GET /positions?account_id=...` as a viewer: token check, one read-model query through
  the pool, the response model.

The calls are interleaved (one of each in turn, round after round) so that every figure sees the same load
on shared cores; `bare_get` is both phases' baseline together, `bare_get_beside_*` each phase's. Each figure
is p50/p99/mean in milliseconds after a warm-up. With --json, stdout carries one JSON object;
the table and progress go to stderr. On shared cores the figures are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from api.tokens import EMPTY, Role, write_tokens
from reports.session import percentile
from runtime.processes import background_process, free_port
from runtime.producer import event_producer, publish_events, send_event
from runtime.settings import Settings, load_settings
from schemas import OrderRequested, QuoteTick
from topics.admin import delete_prefixed_topics, ensure_topics
from zvt.demo import wait_for_books

CONFIG = """
[default_limits]
max_order_notional = "100000000"
max_position_notional = "100000000000"
max_gross_exposure = "100000000000"
max_orders_per_window = 1000000
rate_window_seconds = "1"
price_collar = "0.05"

[paper]
latency_ms = "0"
"""
UVICORN_OPTIONS = ["--log-level", "warning", "--host", "127.0.0.1"]

bare = FastAPI()


@bare.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


def figures(seconds: list[float]) -> dict[str, float | int]:
    millis = [s * 1000 for s in seconds]
    return {
        "requests": len(millis),
        "p50_ms": round(percentile(millis, 50), 3),
        "p99_ms": round(percentile(millis, 99), 3),
        "mean_ms": round(sum(millis) / len(millis), 3),
    }


async def interleaved(
    calls: dict[str, Callable[[], Awaitable[object]]], count: int, warmup: int
) -> dict[str, list[float]]:
    """Each call's seconds, `count` rounds of one call of each in turn (after `warmup` rounds), so that every
    figure sees the same load on shared cores. A call raises on a wrong answer (a refusal is not fast)."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for round_number in range(warmup + count):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            if round_number >= warmup:
                seconds[name].append(time.perf_counter() - started)
    return seconds


async def wait_healthy(client: httpx.AsyncClient, path: str, within: float = 120) -> None:
    async with asyncio.timeout(within):
        while True:
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)


def ok(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response


async def run(settings: Settings, requests: int, warmup: int, work: Path, log: Console) -> dict[str, Any]:
    ring, token = EMPTY.with_user("bench-trader", Role.TRADER)
    ring, viewer_token = ring.with_user("bench-viewer", Role.VIEWER)
    write_tokens(work / "tokens.json", ring)
    (work / "trading.toml").write_text(CONFIG)
    trader = {"Authorization": f"Bearer {token.get_secret_value()}"}
    viewer = {"Authorization": f"Bearer {viewer_token.get_secret_value()}"}
    api_port, bare_port, web_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_TRADING_CONFIG": str(work / "trading.toml"),
        "ZVT_WEB_PORT": str(web_port),
        "ZVT_API_TOKENS_FILE": str(work / "tokens.json"),
    }
    python = sys.executable
    account = f"bench-{uuid.uuid4().hex[:6]}"
    order = {"account_id": account, "symbol": "BTC/USDT", "side": "buy", "quantity": "0.001"}
    mine = {"account_id": account}
    with ExitStack() as processes:
        for name, argv in (
            ("worker", [python, "-m", "zvt", "worker"]),
            ("sink", [python, "-m", "zvt", "sink"]),
            ("api", [python, "-m", "zvt", "api", "--port", str(api_port)]),
            ("bare", [python, "-m", "uvicorn", "bench.api:bare", "--port", str(bare_port), *UVICORN_OPTIONS]),
        ):
            processes.enter_context(background_process(argv, env=env, log_path=work / f"{name}.log"))
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as client,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{bare_port}") as baseline,
        ):
            log.print("waiting for the API, the bare app and the worker's book")
            await wait_healthy(client, "/healthz")
            await wait_healthy(baseline, "/ping")
            quote = QuoteTick(
                venue="binance",
                symbol="BTC/USDT",
                bid_price=Decimal("60000"),
                ask_price=Decimal("60001"),
                bid_size=Decimal("1000"),
                ask_size=Decimal("1000"),
                market_time=datetime.now(UTC),
            )
            await publish_events(settings, [quote])
            await asyncio.wait_for(wait_for_books(web_port, {"binance:BTC/USDT"}), 120)

            async def bare_ping() -> None:
                ok(await baseline.get("/ping"), 200)

            async def place() -> None:
                ok(await client.post("/orders", json=order, headers=trader), 202)

            async def send() -> None:
                request = OrderRequested(order_id=f"b-{uuid.uuid4().hex[:12]}", order_type="market", **order)
                _, future = await send_event(producer, settings, request)
                await future

            async def position() -> list[Any]:
                lines: list[Any] = ok(await client.get("/positions", params=mine, headers=viewer), 200).json()
                return lines

            producer = event_producer(settings)
            await producer.start()
            try:
                log.print(f"bare GET, POST /orders, a signed Kafka send alone: {requests} rounds")
                placing = await interleaved(
                    {"bare_get": bare_ping, "order_placement": place, "kafka_send_alone": send},
                    requests,
                    warmup,
                )
            finally:
                await producer.stop()
            log.print("waiting for the account's position in the read model")
            async with asyncio.timeout(180):
                while not await position():  # noqa: ASYNC110 - the sink, another process, writes it
                    await asyncio.sleep(0.5)
            log.print(f"bare GET, GET /positions: {requests} rounds")
            querying = await interleaved(
                {"bare_get": bare_ping, "position_query": position}, requests, warmup
            )
            rows = len(await position())

    return {
        "bare_get": figures(placing["bare_get"] + querying["bare_get"]),
        "order_placement": figures(placing["order_placement"]),
        "kafka_send_alone": figures(placing["kafka_send_alone"]),
        "position_query": figures(querying["position_query"]),
        "bare_get_beside_placement": figures(placing["bare_get"]),
        "bare_get_beside_position_query": figures(querying["bare_get"]),
        "position_rows": rows,
        "cores": os.cpu_count(),
        "kafka_security_protocol": settings.kafka_security_protocol,
    }


async def main_async(requests: int, warmup: int, log: Console) -> dict[str, Any]:
    base = load_settings()
    settings = base.model_copy(update={"topic_prefix": f"bench-api-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(settings, settings.topic_prefix)
    try:
        with TemporaryDirectory(prefix="zvt-bench-api-") as work:
            return await run(settings, requests, warmup, Path(work), log)
    finally:
        await delete_prefixed_topics(settings, settings.topic_prefix)


def table(result: dict[str, Any]) -> Table:
    out = Table(
        "measured", "requests", "p50 ms", "p99 ms", "mean ms", title="zvt api latency, one request at a time"
    )
    for name, row in result.items():
        if not isinstance(row, dict):
            continue
        out.add_row(name, str(row["requests"]), str(row["p50_ms"]), str(row["p99_ms"]), str(row["mean_ms"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per figure")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests before each")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout; the table to stderr")
    args = parser.parse_args()
    log = Console(stderr=True)
    result = asyncio.run(main_async(args.requests, args.warmup, log))
    log.print(table(result))
    if args.json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
