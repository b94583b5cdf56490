"""Cancels from the CLI through real Kafka with the paper matching engine on (`ZVT_PAPER_ENGINE=true`):
a GTC limit order rests, `zvt orders` lists it, `zvt cancel` cancels it, and `zvt trace` shows every
transition in order; cancels of a filled, a canceled and an unknown order are answered with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.processes import background_process, free_port
from runtime.producer import publish_events
from runtime.settings import REPO_ROOT, Settings
from schemas import OrderRequested, TradeTick

from .support import (
    DEFAULT_LIMITS,
    quoting,
    start_worker,
    wait_for_books,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

CONFIG = (
    DEFAULT_LIMITS
    + """
[paper]
latency_ms = "50"
max_book_age_seconds = "10"
"""
)
WITHIN = 120.0  # seconds for one step on a loaded machine (an answer, a listing)


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    logs: list[Path]

    def zvt(self, *arguments: str, timeout: float = WITHIN + 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zvt", *arguments],
            cwd=REPO_ROOT,
            env=self.env | {"COLUMNS": "250"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{worker_log_tail(log)}" for log in self.logs)


@contextlib.contextmanager
def sink(env: dict[str, str], log: Path) -> Iterator[None]:
    with background_process(
        [sys.executable, "-m", "zvt", "sink"],
        env=env | {"ZVT_SINK_METRICS_PORT": str(free_port())},
        log_path=log,
    ):
        yield


@pytest.fixture
async def stack(pipeline_topics: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    config = tmp_path / "trading.toml"
    config.write_text(CONFIG)
    port = free_port()
    env = worker_env(pipeline_topics, config, port) | {"ZVT_PAPER_ENGINE": "true"}
    logs = [tmp_path / "worker.log", tmp_path / "sink.log"]
    with start_worker(env, logs[0]), sink(env, logs[1]):
        async with quoting(pipeline_topics):
            await wait_for_books(port, {"binance:BTC/USDT"})
            yield Stack(pipeline_topics, env, logs)


def buy(account: str, price: str | None, quantity: str = "0.1") -> OrderRequested:
    """A buy placed by hand (no market time): a GTC limit order at `price`, or a market order."""
    return OrderRequested(
        order_id=f"{account}-{uuid.uuid4().hex[:8]}",
        account_id=account,
        symbol="BTC/USDT",
        side="buy",
        order_type="market" if price is None else "limit",
        quantity=Decimal(quantity),
        limit_price=None if price is None else Decimal(price),
    )


async def listed(stack: Stack, account: str, order_id: str) -> dict[str, str]:
    """`zvt orders --json` until it lists `order_id` as resting; on a timeout, the order's trace."""
    try:
        async with asyncio.timeout(WITHIN):
            while True:
                done = await asyncio.to_thread(stack.zvt, "orders", "--json", "--account", account)
                assert done.returncode == 0, done.stdout + done.stderr
                for line in done.stdout.splitlines():
                    row = json.loads(line)
                    if row["order_id"] == order_id and row["state"] == "accepted":
                        return dict(row)
                await asyncio.sleep(1)
    except TimeoutError:
        trace = stack.zvt("trace", order_id).stdout
        raise AssertionError(f"{order_id} not listed as accepted in {WITHIN} s:\n{trace}") from None


async def wait_for_trace(stack: Stack, order_id: str, showing: str) -> None:
    """Until `zvt trace` of the order shows `showing`; on a timeout, what it shows."""
    trace = ""
    try:
        async with asyncio.timeout(WITHIN):
            while showing not in trace:
                trace = (await asyncio.to_thread(stack.zvt, "trace", order_id)).stdout
                await asyncio.sleep(1)
    except TimeoutError:
        raise AssertionError(f"{order_id}: no {showing!r} in {WITHIN} s:\n{trace}") from None


TRACED = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3}\+00:00 ([a-z_.]+)")


def traced_types(printed: str) -> list[str]:
    return TRACED.findall(printed)


def in_order(found: list[str], wanted: list[str]) -> bool:
    """Whether `wanted` is a subsequence of `found` (the trace has the paper commands between them)."""
    rest = iter(found)
    return all(kind in rest for kind in wanted)


async def test_a_resting_order_is_listed_canceled_from_the_cli_and_traced_in_order(stack: Stack) -> None:
    resting = buy("acct-cancel", "59000")  # under the ask of 60001: it rests
    await publish_events(stack.settings, [resting])
    row = await listed(stack, "acct-cancel", resting.order_id)
    assert (row["symbol"], row["side"], row["order_type"], row["limit_price"], row["quantity"]) == (
        "BTC/USDT",
        "buy",
        "limit",
        "59000",
        "0.1",
    )
    assert (row["filled"], row["venue"]) == ("0", "binance")

    done = await asyncio.to_thread(stack.zvt, "cancel", resting.order_id, "--wait", str(WITHIN))
    assert done.returncode == 0, done.stdout + done.stderr + stack.tails()
    assert "order.canceled" in done.stdout
    assert "requested" in done.stdout  # the cancel reason

    trace = await asyncio.to_thread(stack.zvt, "trace", resting.order_id)
    assert trace.returncode == 0, trace.stdout + trace.stderr
    types = traced_types(trace.stdout)
    lifecycle = [
        "order.requested",
        "order.validated",
        "exchange.routed",
        "order.accepted",
        "order.cancel_requested",
        "order.canceled",
    ]
    assert in_order(types, lifecycle), trace.stdout
    assert types.count("order.canceled") == 1

    again = await asyncio.to_thread(stack.zvt, "cancel", resting.order_id, "--wait", str(WITHIN))
    assert again.returncode == 1, again.stdout + again.stderr + stack.tails()
    assert "already_canceled" in again.stdout

    after = await asyncio.to_thread(stack.zvt, "orders", "--json", "--account", "acct-cancel")
    assert resting.order_id not in after.stdout


async def test_cancels_of_a_filled_and_an_unknown_order_are_answered_with_the_reason(stack: Stack) -> None:
    # A market order is filled in the order stage's pass (the engine takes resting orders only); its fill
    # comes back to the stage on orders.executed, which tells the stage how the order ended.
    taking = buy("acct-filled", None, "0.2")
    await publish_events(stack.settings, [taking])
    await wait_for_trace(stack, taking.order_id, "(filled, ")

    done = await asyncio.to_thread(stack.zvt, "cancel", taking.order_id, "--wait", str(WITHIN))
    assert done.returncode == 1, done.stdout + done.stderr + stack.tails()
    assert "order.cancel_rejected" in done.stdout
    assert "already_filled" in done.stdout

    unknown = await asyncio.to_thread(
        stack.zvt, "cancel", "never-placed", "--account", "acct-filled", "--wait", str(WITHIN)
    )
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr + stack.tails()
    assert "unknown_order" in unknown.stdout


async def test_a_cancel_of_an_order_the_engine_filled_as_a_maker_is_answered_already_filled(
    stack: Stack,
) -> None:
    resting = buy("acct-maker", "59000")
    await publish_events(stack.settings, [resting])
    await wait_for_trace(stack, resting.order_id, "resting on binance")
    # A trade through its price: the engine fills it there, as a maker, and the order stage closes it.
    through = TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id=f"t-{uuid.uuid4().hex[:8]}",
        price=Decimal("58990"),
        quantity=Decimal("1"),
        market_time=datetime.now(UTC),
    )
    await publish_events(stack.settings, [through])
    await wait_for_trace(stack, resting.order_id, "(filled, ")
    trace = await asyncio.to_thread(stack.zvt, "trace", resting.order_id)
    assert "@ 59000 (filled, " in trace.stdout  # at its limit, not at the trade's price

    done = await asyncio.to_thread(stack.zvt, "cancel", resting.order_id, "--wait", str(WITHIN))
    assert done.returncode == 1, done.stdout + done.stderr + stack.tails()
    assert "already_filled" in done.stdout


async def test_an_amend_from_the_cli_changes_the_resting_orders_terms(stack: Stack) -> None:
    resting = buy("acct-amend", "59000")
    await publish_events(stack.settings, [resting])
    await listed(stack, "acct-amend", resting.order_id)
    done = await asyncio.to_thread(
        stack.zvt, "amend", resting.order_id, "--quantity", "0.2", "--price", "58900", "--wait", str(WITHIN)
    )
    assert done.returncode == 0, done.stdout + done.stderr + stack.tails()
    assert "order.amended" in done.stdout
    row = await listed(stack, "acct-amend", resting.order_id)
    assert (row["quantity"], row["limit_price"], row["filled"]) == ("0.2", "58900", "0")
    types = traced_types((await asyncio.to_thread(stack.zvt, "trace", resting.order_id)).stdout)
    assert in_order(types, ["order.accepted", "order.amend_requested", "order.amended"]), types
