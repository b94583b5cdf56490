"""Ticks, orders and requests for the paper matching engine's tests, all at market times counted in
milliseconds from T0 on venue `alpha` (maker fee 0.0002, taker fee 0.001, latency 50 ms, books older than
5 s are no book)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from schemas import (
    BookLevel,
    Event,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCancelRequested,
    OrderExecuted,
    OrderValidated,
    QuoteTick,
    TradeTick,
)
from schemas.primitives import Side
from tests.unit.trading.builders import T0, D, ms, rules, validated
from trading.paper_matching import MatchingSettings, PaperMatchingEngine

RULES = rules("alpha", maker_fee=D("0.0002"), taker_fee=D("0.001"))
SETTINGS = MatchingSettings(latency=ms(50), max_book_age=timedelta(seconds=5))


def at(milliseconds: int) -> datetime:
    return T0 + ms(milliseconds)


def quote(when: int, bid: str, bid_size: str, ask: str, ask_size: str) -> QuoteTick:
    return QuoteTick(
        venue="alpha",
        symbol="BTC/USDT",
        bid_price=D(bid),
        bid_size=D(bid_size),
        ask_price=D(ask),
        ask_size=D(ask_size),
        market_time=at(when),
    )


def book(
    when: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]], sequence: int = 1
) -> OrderBookUpdated:
    return OrderBookUpdated(
        venue="alpha",
        symbol="BTC/USDT",
        bids=tuple(BookLevel(price=D(p), size=D(s)) for p, s in bids),
        asks=tuple(BookLevel(price=D(p), size=D(s)) for p, s in asks),
        sequence=sequence,
        market_time=at(when),
    )


def trade(when: int, price: str, quantity: str) -> TradeTick:
    return TradeTick(
        venue="alpha",
        symbol="BTC/USDT",
        trade_id=f"t{when}-{price}",
        price=D(price),
        quantity=D(quantity),
        market_time=at(when),
    )


_IDS = iter(range(1, 10**9))


def order(order_id: str, side: str, quantity: str, when: int = 0, **terms: Any) -> OrderValidated:
    """An order decided at `when` ms (it reaches the book 50 ms later); a limit_price makes it a limit."""
    if "limit_price" in terms:
        terms["limit_price"] = D(terms["limit_price"])
    if "stop_price" in terms:
        terms["stop_price"] = D(terms["stop_price"])
    return validated(
        event_id=UUID(int=next(_IDS)),
        order_id=order_id,
        side=Side(side),
        quantity=D(quantity),
        market_time=at(when),
        **terms,
    )


def cancel(order_id: str, when: int, account_id: str = "acct-1") -> OrderCancelRequested:
    return OrderCancelRequested(
        event_id=UUID(int=next(_IDS)), order_id=order_id, account_id=account_id, market_time=at(when)
    )


def amend(order_id: str, when: int, **changes: str) -> OrderAmendRequested:
    return OrderAmendRequested(
        event_id=UUID(int=next(_IDS)),
        order_id=order_id,
        account_id="acct-1",
        market_time=at(when),
        **{name: D(value) for name, value in changes.items()},
    )


Input = OrderValidated | OrderCancelRequested | OrderAmendRequested | QuoteTick | TradeTick | OrderBookUpdated


def feed(engine: PaperMatchingEngine, item: Input) -> None:
    match item:
        case OrderValidated():
            engine.submit(item)
        case OrderCancelRequested():
            engine.request_cancel(item)
        case OrderAmendRequested():
            engine.request_amend(item)
        case _:
            engine.add_tick(item)


def run(*inputs: Input, settings: MatchingSettings = SETTINGS) -> list[Event]:
    """Every input, then the end of the data: the events in the order they happened."""
    engine = PaperMatchingEngine(RULES, settings)
    for item in inputs:
        feed(engine, item)
    return engine.end()


@dataclass(frozen=True)
class Fill:
    order_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    when: int  # ms after T0
    status: str


def fills(events: list[Event]) -> list[Fill]:
    return [
        Fill(
            e.order_id,
            e.fill_quantity,
            e.fill_price,
            e.fee,
            e.liquidity,
            int((e.market_time - T0) / ms(1)) if e.market_time else -1,
            e.status,
        )
        for e in events
        if isinstance(e, OrderExecuted)
    ]


def kinds(events: list[Event]) -> list[str]:
    """Each event's type and order, e.g. 'order.accepted ord-1'."""
    return [f"{e.event_type} {getattr(e, 'order_id', '')}".strip() for e in events]
