"""Ticks and a batch of orders through the real agents on real Kafka: fills, positions, PnL, rejections."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import (
    Event,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    PositionUpdated,
    RejectReason,
)
from topics import Topics
from trading.positions import Position

from .support import (
    DEFAULT_LIMITS,
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

CONFIG = (
    DEFAULT_LIMITS
    + """
[accounts.acct-halted]
kill_switch = true

[accounts.acct-rate]
max_orders_per_window = 2
rate_window_seconds = "60"

[paper]
latency_ms = "50"
"""
)

OUTPUT_TOPICS = (
    Topics.ORDERS_VALIDATED,
    Topics.ORDERS_REJECTED,
    Topics.ORDERS_ROUTED,
    Topics.ORDERS_CREATED,
    Topics.ORDERS_EXECUTED,
    Topics.POSITIONS,
)


@dataclass
class RunningPipeline:
    settings: Settings
    output: PipelineOutput
    log: Path


@pytest.fixture
async def pipeline(pipeline_topics: Settings, tmp_path: Path) -> AsyncIterator[RunningPipeline]:
    config = tmp_path / "trading.toml"
    config.write_text(CONFIG)
    port = free_port()
    log = tmp_path / "worker.log"
    with start_worker(worker_env(pipeline_topics, config, port), log):
        # One venue per symbol keeps the expected fills obvious: BTC only on binance, ETH only on okx.
        await publish_events(
            pipeline_topics,
            [
                quote("binance", "BTC/USDT", "60000", "60001", "1", "0.5"),
                quote("okx", "ETH/USDT", "2999.9", "3000", "40", "50"),
            ],
        )
        await wait_for_books(port, {"binance:BTC/USDT", "okx:ETH/USDT"})
        async with read_topics(pipeline_topics, names(pipeline_topics, *OUTPUT_TOPICS)) as output:
            yield RunningPipeline(pipeline_topics, output, log)


def order(
    account: str, side: str, quantity: str, symbol: str = "BTC/USDT", **fields: object
) -> OrderRequested:
    return OrderRequested(
        order_id=f"{account}-{uuid.uuid4().hex[:8]}",
        account_id=account,
        symbol=symbol,
        side=side,
        order_type="limit" if "limit_price" in fields else "market",
        quantity=Decimal(quantity),
        **fields,
    )


def unfinished(output: PipelineOutput, order_ids: set[str]) -> str:
    """Which orders have no terminal event yet, and the last events seen of them: for a timeout's message."""
    missing = order_ids - set(output.terminal_by_order())
    seen = [
        f"{event.event_type} {order_id}"
        for event in output.events.values()
        if (order_id := getattr(event, "order_id", None)) in missing
    ]
    return f"not terminal: {sorted(missing)}; their events: {seen[-6:]}"


def fills_of(output: PipelineOutput, order_id: str) -> list[OrderExecuted]:
    return [e for e in output.of_type(OrderExecuted) if e.order_id == order_id]


def last_position(output: PipelineOutput, account: str, symbol: str) -> PositionUpdated:
    updates = [
        e
        for e in output.of_type(PositionUpdated)
        if e.account_id == account and e.symbol == symbol and e.last_fill_id is not None
    ]
    return max(updates, key=lambda e: e.timestamp)


async def test_orders_flow_to_fills_positions_and_reasoned_rejections(pipeline: RunningPipeline) -> None:
    same_time = datetime.now(UTC)
    reused = order("acct-dup", "buy", "0.001")
    accepted = {
        "buy": order("acct-1", "buy", "0.3"),
        "sell": order("acct-1", "sell", "0.1", limit_price=Decimal("59990.004")),
        "partial": order("acct-3", "buy", "0.8"),
        "eth": order("acct-4", "buy", "2", symbol="ETH/USDT"),
        # Filled in full (okx shows 50 ETH) before the next request of the account is judged: 90,000.
        "pos-1": order("acct-pos", "buy", "30", symbol="ETH/USDT"),
        "gross-1": order("acct-gross", "buy", "1.2"),
        "gross-2": order("acct-gross", "buy", "30", symbol="ETH/USDT"),
        "rate-1": order("acct-rate", "buy", "0.001", market_time=same_time),
        "rate-2": order("acct-rate", "buy", "0.001", market_time=same_time),
        "dup-1": reused,
    }
    refused = {
        RejectReason.KILL_SWITCH: order("acct-halted", "buy", "0.01"),
        RejectReason.UNKNOWN_SYMBOL: order("acct-5", "buy", "1", symbol="FOO/USDT"),
        RejectReason.NO_MARKET_PRICE: order("acct-5", "buy", "1", symbol="LTC/USDT"),
        RejectReason.QUANTITY_BELOW_MIN: order("acct-5", "buy", "0.000001"),
        RejectReason.PRICE_COLLAR: order("acct-5", "buy", "0.01", limit_price=Decimal("50000")),
        RejectReason.MAX_ORDER_NOTIONAL: order("acct-5", "buy", "2"),
        # 90,000 held + 75,000 more of ETH: above the 150,000 position limit.
        RejectReason.MAX_POSITION: order("acct-pos", "buy", "25", symbol="ETH/USDT"),
        # 0.5 BTC (of 1.2 asked; binance shows 0.5) and 30 ETH held: 2.1 BTC and 30 ETH are 216,002.1.
        RejectReason.MAX_GROSS_EXPOSURE: order("acct-gross", "buy", "1.6"),
        RejectReason.ORDER_RATE: order("acct-rate", "buy", "0.001", market_time=same_time),
        RejectReason.DUPLICATE_ORDER: reused.model_copy(update={"event_id": uuid.uuid4()}),
    }
    # Order within an account matters (the rules see earlier orders): published in the listed order.
    requests: list[OrderRequested] = [*accepted.values(), *refused.values()]
    await publish_events(pipeline.settings, list[Event](requests))
    output = pipeline.output
    order_ids = {r.order_id for r in requests}
    await wait_until(
        lambda: order_ids <= set(output.terminal_by_order()) and len(output.of_type(PositionUpdated)) >= 7,
        90,
        lambda: (
            f"terminal for {len(set(output.terminal_by_order()) & order_ids)} of {len(order_ids)} "
            f"({unfinished(output, order_ids)}); "
            + worker_log_tail(pipeline.log)
        ),
    )

    terminal = output.terminal_by_order()
    for reason, request in refused.items():
        rejections = [e for e in terminal[request.order_id] if isinstance(e, OrderRejected)]
        assert [(r.reason, r.causation_id) for r in rejections] == [(reason, request.event_id)]
    for name, request in accepted.items():
        # The reused id also carries the duplicate's rejection; the order itself ends exactly once.
        ends = [e for e in terminal[request.order_id] if not isinstance(e, OrderRejected)]
        assert len(ends) == 1, (name, terminal[request.order_id])
        assert isinstance(ends[0], OrderExecuted), (name, terminal[request.order_id])

    # acct-1: buy 0.3 at binance's ask 60001, then sell 0.1 with limit 59990.004 (rounded up to the 0.01
    # tick: 59990.01) against the bid 60000. Fees at binance's taker rate 0.001 on each notional.
    (buy,) = fills_of(output, accepted["buy"].order_id)
    (sell,) = fills_of(output, accepted["sell"].order_id)
    assert (buy.fill_price, buy.fill_quantity, buy.fee, buy.venue) == (
        Decimal("60001"),
        Decimal("0.3"),
        Decimal("18.0003"),
        "binance",
    )
    assert (sell.fill_price, sell.fill_quantity, sell.fee) == (
        Decimal("60000"),
        Decimal("0.1"),
        Decimal("6.0000"),
    )
    position = last_position(output, "acct-1", "BTC/USDT")
    assert position.quantity == Decimal("0.2")
    assert position.average_cost == Decimal("60001")
    assert position.realized_pnl == Decimal("-0.1")  # 0.1 x (60000 - 60001)
    assert position.fees_paid == Decimal("24.0003")
    # Marked at the last price (the mid 60000.5): 0.2 x (60000.5 - 60001) = -0.1
    assert position.unrealized_pnl == Decimal("-0.10")

    # acct-3 asked for 0.8 where the book shows 0.5: a partial fill, the rest canceled.
    (partial,) = fills_of(output, accepted["partial"].order_id)
    assert (partial.fill_quantity, partial.status, partial.remaining_quantity) == (
        Decimal("0.5"),
        OrderStatus.CANCELED,
        Decimal("0.3"),
    )
    assert last_position(output, "acct-3", "BTC/USDT").quantity == Decimal("0.5")

    # ETH routes to okx, the only venue with an ETH book; fee at okx's taker rate.
    (eth,) = fills_of(output, accepted["eth"].order_id)
    expected = Position().apply_fill(eth.side, Decimal(2), Decimal(3000), eth.fee)
    assert eth.venue == "okx"
    assert last_position(output, "acct-4", "ETH/USDT").average_cost == expected.average_cost == Decimal(3000)

    # No fill at a price or size the book did not show.
    for fill in output.of_type(OrderExecuted):
        assert fill.fill_price in {Decimal("60001"), Decimal("60000"), Decimal("3000"), Decimal("2999.9")}
        assert fill.fill_quantity <= Decimal("50")
