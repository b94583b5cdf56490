"""A moving-average crossover through the real worker on real Kafka: quotes in, its order out, filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import OrderExecuted, OrderRejected, OrderRequested, OrderStatus, QuoteTick
from topics import Topics
from zvt.processes import free_port
from zvt.publish import publish_events
from zvt.settings import Settings

from .support import (
    names,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

STRATEGIES = """
[[strategies]]
id = "ma-it"
kind = "ma_crossover"
account = "acct-ma"
symbols = ["BTC/USDT"]
venue = "binance"
[strategies.parameters]
fast = 2
slow = 3
quantity = "0.01"
"""

# Mids 60000.5, 59990.5, 59980.5, 59990.5: fast below slow from the first full window (no order);
# 60010.5: fast 60000.5 > slow 59993.83, the crossing: buy 0.01, filled at that quote's ask, 60011.
# The last quote keeps fast above slow: no second order.
BIDS = ["60000", "59990", "59980", "59990", "60010", "60020"]
CROSSING = 4


def quotes(start: datetime) -> list[QuoteTick]:
    return [
        QuoteTick(
            venue="binance",
            symbol="BTC/USDT",
            bid_price=Decimal(bid),
            ask_price=Decimal(bid) + 1,
            bid_size=Decimal(1),
            ask_size=Decimal(1),
            market_time=start + timedelta(seconds=second),
        )
        for second, bid in enumerate(BIDS)
    ]


async def test_ma_crossover_orders_at_the_crossing_and_fills(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    (tmp_path / "trading.toml").write_text('[paper]\nlatency_ms = "50"\n')
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    port = free_port()
    log = tmp_path / "worker.log"
    env = worker_env(pipeline_topics, tmp_path / "trading.toml", port) | {
        "ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml")
    }
    ticks = quotes(datetime.now(UTC) - timedelta(seconds=30))
    topics = names(pipeline_topics, Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED, Topics.ORDERS_REJECTED)
    with start_worker(env, log):
        async with read_topics(pipeline_topics, topics) as output:
            await publish_events(pipeline_topics, ticks[:1])
            await wait_for_books(port, {"binance:BTC/USDT"})
            await publish_events(pipeline_topics, ticks[1:])

            def done() -> bool:
                return any(
                    isinstance(e, OrderRejected)
                    or (isinstance(e, OrderExecuted) and e.status is OrderStatus.FILLED)
                    for e in output.events.values()
                )

            await wait_until(done, 60, lambda: f"no outcome; worker log:\n{worker_log_tail(log)}")
            (request,) = output.of_type(OrderRequested)
            assert (request.strategy_id, request.account_id, request.symbol) == (
                "ma-it",
                "acct-ma",
                "BTC/USDT",
            )
            assert (request.side, request.quantity, request.venue) == ("buy", Decimal("0.01"), "binance")
            assert request.market_time == ticks[CROSSING].market_time
            assert output.of_type(OrderRejected) == []
            (fill,) = output.of_type(OrderExecuted)
            assert (fill.order_id, fill.strategy_id, fill.account_id) == (
                request.order_id,
                "ma-it",
                "acct-ma",
            )
            assert (fill.fill_quantity, fill.fill_price, fill.status) == (
                Decimal("0.01"),
                Decimal(60011),
                OrderStatus.FILLED,
            )
            assert output.copies == 0
