"""kill -9 an agent worker in the middle of 1,200 orders, then start it again or let a second worker take
over: every order ends exactly once, no fill is lost or doubled, and the final positions equal those of a
clean run."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from agents.settings import AgentSettings
from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import OrderExecuted, OrderRequested, PositionUpdated
from schemas.primitives import Side
from topics import Topics
from trading.positions import Position
from venues.catalog import load_catalog

from .support import (
    PipelineOutput,
    names,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

ORDERS = 1200
ACCOUNTS = 12
CONFIG = """
[default_limits]
max_order_notional = "1000000"
max_position_notional = "10000000"
max_gross_exposure = "100000000"
max_open_orders = 100000
max_orders_per_window = 100000
"""
# symbol -> (venue, bid, ask)
BOOKS = {
    "BTC/USDT": ("binance", Decimal("60000"), Decimal("60001")),
    "ETH/USDT": ("okx", Decimal("2999.9"), Decimal("3000")),
}


def taker_fee(venue: str, symbol: str) -> Decimal:
    """The venue's taker fee from the same ccxt metadata the worker reads."""
    rules = load_catalog(AgentSettings().markets_dir, (venue,)).get(venue, symbol)
    assert rules is not None
    return rules.taker_fee


def orders() -> list[OrderRequested]:
    made = []
    for i in range(ORDERS):
        symbol = "BTC/USDT" if i % 3 else "ETH/USDT"
        made.append(
            OrderRequested(
                order_id=f"crash-{i}-{uuid.uuid4().hex[:6]}",
                account_id=f"acct-{i % ACCOUNTS}",
                symbol=symbol,
                side="buy" if i % 4 != 3 else "sell",
                order_type="market",
                quantity=Decimal("0.001") * (i % 5 + 1) * (1 if symbol == "BTC/USDT" else 10),
            )
        )
    return made


def clean_run_positions(requests: list[OrderRequested]) -> dict[tuple[str, str], Position]:
    """What a run without crash gives: every order fills in full at the book's price, in request order."""
    positions: dict[tuple[str, str], Position] = defaultdict(Position)
    for request in requests:
        venue, bid, ask = BOOKS[request.symbol]
        fee_rate = taker_fee(venue, request.symbol)
        price = ask if request.side is Side.BUY else bid
        key = (request.account_id, request.symbol)
        positions[key] = positions[key].apply_fill(
            request.side, request.quantity, price, request.quantity * price * fee_rate
        )
    return positions


def final_positions(output: PipelineOutput, settings: Settings) -> dict[tuple[str, str], PositionUpdated]:
    """The last fill-caused position.updated per account and symbol, in topic order."""
    last: dict[tuple[str, str], PositionUpdated] = {}
    for record in output.records[Topics.POSITIONS.full_name(settings.topic_prefix)]:
        event = output.events.get(_event_id(record.value or b""))
        if isinstance(event, PositionUpdated) and event.last_fill_id is not None:
            last[event.account_id, event.symbol] = event
    return last


def _event_id(value: bytes) -> str:
    import orjson

    return str(orjson.loads(value)["event_id"])


async def test_kill_9_mid_run_loses_and_doubles_nothing(pipeline_topics: Settings, tmp_path: Path) -> None:
    """One worker, killed and started again: it resumes from its group's committed offsets."""
    await _kill_mid_run(pipeline_topics, tmp_path, takeover=False)


async def test_a_survivor_takes_over_a_killed_workers_partitions(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    """Two workers share the partitions; one is killed and the other takes its partitions over in the
    rebalance that follows (revoking and reassigning its own on the way)."""
    await _kill_mid_run(pipeline_topics, tmp_path, takeover=True)


@pytest.mark.parametrize(
    "crash_at",
    [
        # Outputs acknowledged, state not written: the restart redoes the batch (same ids, new offsets).
        "orders:after_outputs:8",
        "portfolio:after_outputs:8",
        # State written, offsets not committed: the restart skips what each key's offsets say it applied.
        "orders:after_state:8",
        "portfolio:after_state:8",
    ],
)
async def test_killed_inside_a_batch_loses_and_doubles_nothing(
    pipeline_topics: Settings, tmp_path: Path, crash_at: str
) -> None:
    """The worker kills itself (SIGKILL) at one seam of a batch of the stage named, then starts again."""
    await _kill_mid_run(pipeline_topics, tmp_path, takeover=False, crash_at=crash_at)


async def _kill_mid_run(
    settings: Settings, tmp_path: Path, *, takeover: bool, crash_at: str | None = None
) -> None:
    config = tmp_path / "trading.toml"
    config.write_text(CONFIG)
    victim_port, survivor_port = free_port(), free_port()
    log = tmp_path / "worker.log"
    victim_env = worker_env(settings, config, victim_port)
    survivor_env = worker_env(settings, config, survivor_port)
    restart_env = victim_env
    if crash_at is not None:
        victim_env = victim_env | {"ZVT_CRASH_AT": crash_at}
    requests: list[OrderRequested] = []
    ids: set[str] = set()
    topics = names(settings, Topics.ORDERS_REJECTED, Topics.ORDERS_EXECUTED, Topics.POSITIONS)
    books = {f"{venue}:{s}" for s, (venue, *_) in BOOKS.items()}
    async with read_topics(settings, topics) as output, contextlib.AsyncExitStack() as workers:
        victim = workers.enter_context(start_worker(victim_env, log))
        if takeover:
            workers.enter_context(start_worker(survivor_env, tmp_path / "survivor.log"))
        await publish_events(
            settings,
            [quote(venue, s, str(bid), str(ask), "1000", "1000") for s, (venue, bid, ask) in BOOKS.items()],
        )
        await wait_for_books(victim_port, books)
        if takeover:
            await wait_for_books(survivor_port, books)
        # Made after the books: an order decided before a book existed has nothing to fill against.
        requests += orders()
        ids |= {r.order_id for r in requests}
        await publish_events(settings, list(requests))
        if crash_at is None:
            await wait_until(
                lambda: len(output.terminal_by_order()) >= ORDERS // 4,
                180,
                lambda: f"{len(output.terminal_by_order())} orders done before the kill; "
                + worker_log_tail(log),
            )
            victim.kill()  # SIGKILL: no shutdown, no commit, no flush
        await asyncio.to_thread(victim.wait, 180)
        assert victim.returncode == -signal.SIGKILL, victim.returncode
        done_at_kill = len(output.terminal_by_order())
        if not takeover:
            workers.enter_context(start_worker(restart_env, log))
        await wait_until(
            lambda: (
                ids <= set(output.terminal_by_order())
                and len(final_positions(output, settings)) == len(clean_run_positions(requests))
            ),
            240,
            lambda: f"{len(set(output.terminal_by_order()) & ids)} of {ORDERS} done; " + worker_log_tail(log),
        )
        expected = clean_run_positions(requests)
        await wait_until(
            lambda: (
                {k: v.quantity for k, v in final_positions(output, settings).items()}
                == {k: v.quantity for k, v in expected.items()}
            ),
            60,
            lambda: "positions did not settle",
        )

    assert done_at_kill < ORDERS, "the worker finished before it was killed: the test proved nothing"
    terminal = output.terminal_by_order()
    assert {order_id: len(events) for order_id, events in terminal.items()} == dict.fromkeys(ids, 1)
    fills: dict[str, list[OrderExecuted]] = defaultdict(list)
    for fill in output.of_type(OrderExecuted):
        fills[fill.order_id].append(fill)
    for request in requests:
        assert sum(f.fill_quantity for f in fills[request.order_id]) == request.quantity, request.order_id
    fill_ids = [f.fill_id for f in output.of_type(OrderExecuted)]
    assert len(fill_ids) == len(set(fill_ids)) == ORDERS
    for key, position in final_positions(output, settings).items():
        clean = expected[key]
        assert (position.quantity, position.average_cost, position.realized_pnl, position.fees_paid) == (
            clean.quantity,
            clean.average_cost,
            clean.realized_pnl,
            clean.fees_paid,
        ), key
