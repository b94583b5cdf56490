"""The paper matching engine through the real worker on real Kafka (`ZVT_PAPER_ENGINE=true`): a GTC limit
order rests and a later recorded trade through its price fills it at that price with the maker fee; a
stop waits, a trade at its price triggers it, and it takes the book. The ticks are released by the
watermarks a strategy's progress gives every order stage partition (the strategy itself never orders),
the orders placed by hand are taken within what the feed had reached, and a command waiting only for a
later tick is released after the settle time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agents.context import catalog
from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import (
    Event,
    OrderAccepted,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderTriggered,
    QuoteTick,
    TradeTick,
)
from topics import Topics

from .support import (
    PipelineOutput,
    names,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

# Decides on every binance BTC/USDT price (so its progress is the order watermark), orders on none here.
STRATEGIES = """
[[strategies]]
id = "ma-watermark"
kind = "ma_crossover"
account = "acct-ma"
symbols = ["BTC/USDT"]
venue = "binance"
[strategies.parameters]
fast = 50
slow = 100
quantity = "0.01"
"""
D = Decimal


def _quote(at: datetime, bid: str, ask: str) -> QuoteTick:
    return QuoteTick(
        venue="binance",
        symbol="BTC/USDT",
        bid_price=D(bid),
        ask_price=D(ask),
        bid_size=D(1),
        ask_size=D(1),
        market_time=at,
    )


def _trade(at: datetime, price: str, quantity: str) -> TradeTick:
    return TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id=f"t-{at.timestamp():.0f}",
        price=D(price),
        quantity=D(quantity),
        market_time=at,
    )


def _order(order_id: str, at: datetime, **terms: object) -> OrderRequested:
    return OrderRequested(
        order_id=order_id,
        account_id="acct-engine",
        symbol="BTC/USDT",
        quantity=D("0.01"),
        venue="binance",
        market_time=at,
        **terms,
    )


def _of(output: PipelineOutput, kind: type[Event], order_id: str) -> list[Event]:
    return [e for e in output.of_type(kind) if getattr(e, "order_id", None) == order_id]


async def test_a_resting_limit_and_a_stop_fill_on_later_recorded_trades(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    (tmp_path / "trading.toml").write_text('[paper]\nlatency_ms = "50"\nmax_book_age_seconds = "10"\n')
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    port = free_port()
    log = tmp_path / "worker.log"
    env = worker_env(pipeline_topics, tmp_path / "trading.toml", port) | {
        "ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml"),
        "ZVT_PAPER_ENGINE": "true",
    }
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    topics = names(
        pipeline_topics,
        Topics.ORDERS_ACCEPTED,
        Topics.ORDERS_EXECUTED,
        Topics.ORDERS_REJECTED,
        Topics.ORDERS_CANCELED,
    )
    rules = catalog().get("binance", "BTC/USDT")
    assert rules is not None

    def seen(kind: type[Event], order_id: str) -> bool:
        return bool(_of(output, kind, order_id)) or bool(_of(output, OrderRejected, order_id))

    def described() -> str:
        kinds = sorted(f"{e.event_type} {getattr(e, 'order_id', '')}" for e in output.events.values())
        return f"seen {kinds}; worker log:\n{worker_log_tail(log)}"

    with start_worker(env, log):
        async with read_topics(pipeline_topics, topics) as output:
            await publish_events(pipeline_topics, [_quote(start, "60000", "60001")])
            await wait_for_books(port, {"binance:BTC/USDT"})
            # Below the ask: it rests. Placed by hand on the book of `start`.
            await publish_events(
                pipeline_topics,
                [_order("gtc-1", start, side="buy", order_type="limit", limit_price=D("59990"))],
            )
            await wait_until(lambda: seen(OrderAccepted, "gtc-1"), 60, described)
            assert _of(output, OrderRejected, "gtc-1") == []
            (accepted,) = _of(output, OrderAccepted, "gtc-1")
            assert isinstance(accepted, OrderAccepted)
            assert (accepted.venue, accepted.resting_quantity) == ("binance", D("0.01"))

            # A later recorded trade through its price fills it there, as a maker.
            await publish_events(pipeline_topics, [_trade(start + timedelta(seconds=2), "59985", "0.5")])
            await wait_until(lambda: seen(OrderExecuted, "gtc-1"), 60, described)
            (fill,) = _of(output, OrderExecuted, "gtc-1")
            assert isinstance(fill, OrderExecuted)
            assert (fill.fill_quantity, fill.fill_price, fill.liquidity, fill.status) == (
                D("0.01"),
                D("59990"),
                "maker",
                OrderStatus.FILLED,
            )
            assert fill.fee == D("0.01") * D("59990") * rules.maker_fee
            assert fill.market_time == start + timedelta(seconds=2)

            # A sell stop below the market: it waits; a trade at or below its price triggers it, and it
            # takes the bid of the book in force then, as a taker.
            stop_terms = {"side": "sell", "order_type": "stop_market", "stop_price": D("59950")}
            await publish_events(
                pipeline_topics, [_order("stop-1", start + timedelta(seconds=2), **stop_terms)]
            )
            await wait_until(lambda: seen(OrderAccepted, "stop-1"), 60, described)
            await publish_events(
                pipeline_topics,
                [
                    _quote(start + timedelta(seconds=3), "59945", "59946"),
                    _trade(start + timedelta(seconds=4), "59940", "0.1"),
                ],
            )
            await wait_until(lambda: seen(OrderExecuted, "stop-1"), 60, described)
            (triggered,) = _of(output, OrderTriggered, "stop-1")
            assert isinstance(triggered, OrderTriggered)
            assert (triggered.trigger_price, triggered.triggered_at) == (
                D("59940"),
                start + timedelta(seconds=4),
            )
            (sold,) = _of(output, OrderExecuted, "stop-1")
            assert isinstance(sold, OrderExecuted)
            assert (sold.side, sold.fill_quantity, sold.fill_price, sold.liquidity, sold.status) == (
                "sell",
                D("0.01"),
                D("59945"),
                "taker",
                OrderStatus.FILLED,
            )
            assert sold.fee == D("0.01") * D("59945") * rules.taker_fee
            assert output.copies == 0
