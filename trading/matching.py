"""Paper matching: how much of an order a book top fills, and at what price.

A paper fill never happens at a price or size the book did not show: a buy takes the ask, a sell the
bid, up to the size shown there and only within the order's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from schemas.primitives import Side, TimeInForce
from trading.books import BookTop


@dataclass(frozen=True, slots=True)
class Match:
    quantity: Decimal
    price: Decimal


def match_against_top(
    side: Side,
    quantity: Decimal,
    limit_price: Decimal | None,
    top: BookTop,
    time_in_force: TimeInForce = TimeInForce.IOC,
) -> Match | None:
    """The fill `top` gives an order, or None when it gives nothing (empty side, limit not reached, FOK)."""
    price, size = top.opposite(side)
    if price is None or size <= 0:
        return None
    if limit_price is not None and (price > limit_price if side is Side.BUY else price < limit_price):
        return None
    if time_in_force is TimeInForce.FOK and size < quantity:
        return None
    return Match(quantity=min(quantity, size), price=price)


def taker_fee(quantity: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The fee in quote currency of a taker fill; a negative rate (rebate) counts as no fee here."""
    return max(quantity * price * fee_rate, Decimal(0))
