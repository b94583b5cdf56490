"""The agent pipeline on recorded quotes (`zvt demo`): a worker, real binance book tops, a few orders.

Quotes come from `../shared/data/ticks` (binance BTC/USDT and ETH/USDT book tickers, August 2024) when that
data set is present, otherwise from two fixed books. Orders are stamped with the market time of the last
quote, so the paper venue fills them against the recorded book in force at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer

from agents.settings import AgentSettings
from runtime.clients import kafka_options
from runtime.processes import background_process
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import (
    Event,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    PositionUpdated,
    QuoteTick,
)
from schemas.signing import verified_event
from topics import Topics
from trading.order_lifecycle import order_ended, outcome_of

BOOK_TICKERS = {
    "BTC/USDT": "binance_spot_btcusdt_bookticker_20240808T2354Z_20240809T0005Z.csv",
    "ETH/USDT": "binance_spot_ethusdt_bookticker_20240808T2354Z_20240809T0005Z.csv",
}
QUOTES_PER_SYMBOL = 500


def recorded_quotes(ticks_dir: Path, limit: int) -> list[QuoteTick]:
    quotes: list[QuoteTick] = []
    for symbol, name in BOOK_TICKERS.items():
        path = ticks_dir / name
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle)):
                if number >= limit:
                    break
                quotes.append(
                    QuoteTick(
                        venue="binance",
                        symbol=symbol,
                        bid_price=Decimal(row["bid_price"]).normalize(),
                        bid_size=Decimal(row["bid_qty"]).normalize(),
                        ask_price=Decimal(row["ask_price"]).normalize(),
                        ask_size=Decimal(row["ask_qty"]).normalize(),
                        market_time=datetime.fromtimestamp(int(row["local_ts_ns"]) / 1e9, UTC),
                    )
                )
    return sorted(quotes, key=lambda quote: quote.market_time)


def fixed_quotes() -> list[QuoteTick]:
    now = datetime.now(UTC)
    return [
        QuoteTick(venue="binance", symbol="BTC/USDT", bid_price=Decimal("61837.63"), bid_size=Decimal("3.7"),
                  ask_price=Decimal("61837.64"), ask_size=Decimal("1.5"), market_time=now),
        QuoteTick(venue="binance", symbol="ETH/USDT", bid_price=Decimal("2683.8"), bid_size=Decimal("3.0"),
                  ask_price=Decimal("2683.81"), ask_size=Decimal("31.4"), market_time=now),
    ]  # fmt: skip


def demo_orders(market_time: datetime, run: str) -> list[OrderRequested]:
    def order(account: str, symbol: str, side: str, quantity: str, **fields: object) -> OrderRequested:
        return OrderRequested.model_validate(
            {
                "order_id": f"demo-{run}-{uuid.uuid4().hex[:6]}",
                "account_id": account,
                "strategy_id": "demo",
                "symbol": symbol,
                "side": side,
                "order_type": "limit" if "limit_price" in fields else "market",
                "quantity": quantity,
                "market_time": market_time,  # decided on the last quote: risk and routing need not wait
                **fields,
            }
        )

    return [
        order("acct-1", "BTC/USDT", "buy", "0.25"),
        order("acct-1", "ETH/USDT", "buy", "4"),
        order("acct-1", "BTC/USDT", "sell", "0.1"),
        order("acct-2", "ETH/USDT", "sell", "2.5"),
        order("acct-2", "BTC/USDT", "buy", "5"),  # above the default max order notional
        order("acct-halted", "BTC/USDT", "buy", "0.01"),  # kill switch in config/trading.toml
        order("acct-2", "DOGE/BTC", "buy", "100"),  # not listed
    ]


@dataclass
class DemoResult:
    orders: list[OrderRequested]
    outcomes: dict[str, list[Event]] = field(default_factory=dict)
    positions: dict[tuple[str, str], PositionUpdated] = field(default_factory=dict)
    position_fills: set[str] = field(default_factory=set)  # fills whose position update arrived

    def done(self) -> bool:
        """Every order ended, and every fill's position update arrived."""
        ended = all(order_ended(self.outcomes.get(o.order_id, [])) for o in self.orders)
        fills = {
            e.fill_id for events in self.outcomes.values() for e in events if isinstance(e, OrderExecuted)
        }
        return ended and fills <= self.position_fills


async def wait_for_books(web_port: int, books: set[str]) -> None:
    """Until the worker's market view (on its Faust web monitor) shows every `venue:symbol` book; bound it
    with `asyncio.timeout`."""
    async with aiohttp.ClientSession() as client:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(f"http://127.0.0.1:{web_port}/zvt/market/") as response:
                    if response.status == 200 and books <= set((await response.json())["books"]):
                        return
            await asyncio.sleep(0.3)


async def _collect(settings: Settings, result: DemoResult) -> None:
    topics = [
        t.full_name(settings.topic_prefix)
        for t in (Topics.ORDERS_REJECTED, Topics.ORDERS_EXECUTED, Topics.ORDERS_CANCELED, Topics.POSITIONS)
    ]
    consumer = AIOKafkaConsumer(
        *topics, **kafka_options(settings), auto_offset_reset="latest"
    )
    await consumer.start()
    ids = {order.order_id for order in result.orders}
    try:
        while not result.done():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = verified_event(record.value, record.headers)
                    order_id = getattr(event, "order_id", None)
                    if order_id in ids:
                        result.outcomes.setdefault(order_id, []).append(event)
                    if isinstance(event, PositionUpdated) and event.last_fill_id is not None:
                        result.position_fills.add(event.last_fill_id)
                        if event.account_id in {order.account_id for order in result.orders}:
                            result.positions[event.account_id, event.symbol] = event
    finally:
        await consumer.stop()


async def run_demo(settings: Settings, web_port: int, within: float = 180) -> DemoResult:
    ticks_dir = AgentSettings().markets_dir.parent.parent / "ticks"
    quotes = recorded_quotes(ticks_dir, QUOTES_PER_SYMBOL) or fixed_quotes()
    result = DemoResult(orders=demo_orders(quotes[-1].market_time, uuid.uuid4().hex[:6]))
    env = os.environ | {"ZVT_TOPIC_PREFIX": settings.topic_prefix, "ZVT_WEB_PORT": str(web_port)}
    log = Path(os.environ.get("ZVT_RUN_DIR", ".run")) / "demo-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with background_process([sys.executable, "-m", "zvt", "worker"], env=env, log_path=log, stop_timeout=60):
        async with asyncio.timeout(within):
            await publish_events(settings, quotes)
            await wait_for_books(web_port, {f"binance:{symbol}" for symbol in BOOK_TICKERS})
            collector = asyncio.create_task(_collect(settings, result))
            await asyncio.sleep(1)  # the collector is positioned at the end before the orders go out
            await publish_events(settings, list[Event](result.orders))
            await collector
    return result


def outcome_rows(result: DemoResult) -> Iterator[tuple[str, ...]]:
    for order in result.orders:
        events = result.outcomes.get(order.order_id, [])
        fills = [e for e in events if isinstance(e, OrderExecuted)]
        rejections = [e for e in events if isinstance(e, OrderRejected)]
        # filled, canceled (a last fill so marked, or order.canceled after the fills), expired
        ended = outcome_of(events) or "?"
        outcome = f"rejected: {rejections[0].reason.value}" if rejections else ended
        filled = str(sum((f.fill_quantity for f in fills), Decimal(0))) if fills else ""
        price = str(fills[0].fill_price) if fills else ""
        fees = str(sum((f.fee for f in fills), Decimal(0))) if fills else ""
        yield (
            order.account_id,
            order.symbol,
            order.side.value,
            str(order.quantity),
            outcome,
            filled,
            price,
            fees,
        )
