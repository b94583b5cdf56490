"""Price updates for strategy tests: one per second of market time, exact Decimals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas import PriceUpdated
from schemas.primitives import Side
from strategies import OrderIntent, Strategy

START = datetime(2024, 8, 1, tzinfo=UTC)


def price(
    value: str | Decimal, second: int = 0, venue: str = "binance", symbol: str = "BTC/USDT"
) -> PriceUpdated:
    return PriceUpdated(
        venue=venue, symbol=symbol, price=Decimal(value), market_time=START + timedelta(seconds=second)
    )


def run(strategy: Strategy[Any, Any], values: list[str]) -> tuple[Any, list[list[OrderIntent]]]:
    """Feed `values` in order; the final state and the intents of each step."""
    state = strategy.initial_state()
    steps = []
    for second, value in enumerate(values):
        state, intents = strategy.on_price(state, price(value, second))
        steps.append(intents)
    return state, steps


def buy(quantity: str) -> OrderIntent:
    return OrderIntent(side=Side.BUY, quantity=Decimal(quantity))


def sell(quantity: str) -> OrderIntent:
    return OrderIntent(side=Side.SELL, quantity=Decimal(quantity))
