"""Rebalancing arithmetic: the orders that move holdings to target weights, and the orders that undo fills.

Weights are fractions of the portfolio's value (cash plus every holding at its price); what the weights
leave unassigned stays in cash, and a holding without a target is sold. Sells come first, so the cash
they raise is there before the buys need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from schemas.primitives import Side
from trading.markets import round_down_to_step

ZERO = Decimal(0)
# Quantities are cut to this when a symbol has no step of its own: finer than any venue's amount step.
DEFAULT_STEP = Decimal("0.00000001")


class PlannedOrder(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal  # the price the plan was made at (the pre-check's reference)


def portfolio_value(
    cash: Decimal, positions: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> Decimal:
    missing = sorted(symbol for symbol, held in positions.items() if held and symbol not in prices)
    if missing:
        raise ValueError(f"no price for held {missing}")
    return cash + sum((held * prices[symbol] for symbol, held in positions.items() if held), ZERO)


def rebalance_orders(
    target_weights: Mapping[str, Decimal],
    positions: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    cash: Decimal,
    *,
    steps: Mapping[str, Decimal] | None = None,
    min_notional: Decimal = ZERO,
) -> list[PlannedOrder]:
    """The orders from `positions` to `target_weights`; trades under `min_notional` are not worth sending."""
    if any(weight < 0 for weight in target_weights.values()):
        raise ValueError("target weights must not be negative (no shorts in a rebalance)")
    if sum(target_weights.values(), ZERO) > 1:
        raise ValueError(f"target weights add up to {sum(target_weights.values(), ZERO)}, above 1")
    unpriced = sorted(symbol for symbol in target_weights if symbol not in prices)
    if unpriced:
        raise ValueError(f"no price for target {unpriced}")
    value = portfolio_value(cash, positions, prices)
    orders: list[PlannedOrder] = []
    for symbol in sorted({*target_weights, *positions}):
        price = prices[symbol]
        delta = target_weights.get(symbol, ZERO) * value / price - positions.get(symbol, ZERO)
        quantity = round_down_to_step(abs(delta), (steps or {}).get(symbol, DEFAULT_STEP))
        if quantity == 0 or quantity * price < min_notional:
            continue
        orders.append(
            PlannedOrder(
                symbol=symbol, side=Side.BUY if delta > 0 else Side.SELL, quantity=quantity, price=price
            )
        )
    return sorted(orders, key=lambda order: order.side is Side.BUY)  # stable: sells, then buys


def reversal(symbol: str, side: Side, filled: Decimal, price: Decimal) -> PlannedOrder:
    """The order that undoes `filled` of an order (compensation after a partial rebalance)."""
    opposite = Side.SELL if side is Side.BUY else Side.BUY
    return PlannedOrder(symbol=symbol, side=opposite, quantity=filled, price=price)
