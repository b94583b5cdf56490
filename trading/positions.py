"""Position and PnL arithmetic for one account and symbol: average cost, realized and unrealized PnL.

Realized PnL is gross of fees; fees are kept apart (`fees_paid`) and `net_pnl` subtracts them, so a
report can show both. Everything is Decimal; flips from long to short close the old side at the fill price
and open the new side at the same price.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from schemas.primitives import Side

ZERO = Decimal(0)


class Position(BaseModel):
    """What one account holds in one symbol (negative quantity is short)."""

    model_config = ConfigDict(frozen=True)

    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO

    def apply_fill(self, side: Side, quantity: Decimal, price: Decimal, fee: Decimal = ZERO) -> Position:
        if quantity <= 0:
            raise ValueError(f"fill quantity must be positive, got {quantity}")
        signed = quantity * side.sign
        held = self.quantity
        fees = self.fees_paid + fee
        if held == 0 or (held > 0) == (signed > 0):
            total = held + signed
            average = (abs(held) * self.average_cost + quantity * price) / abs(total)
            return Position(
                quantity=total, average_cost=average, realized_pnl=self.realized_pnl, fees_paid=fees
            )
        closed = min(quantity, abs(held))
        direction = Decimal(1) if held > 0 else Decimal(-1)
        realized = self.realized_pnl + closed * (price - self.average_cost) * direction
        total = held + signed
        if total == 0:
            average = ZERO
        elif (total > 0) == (held > 0):
            average = self.average_cost  # reduced, same side: the cost of what is left is unchanged
        else:
            average = price  # flipped: the new side was opened at this fill
        return Position(quantity=total, average_cost=average, realized_pnl=realized, fees_paid=fees)

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.quantity == 0:
            return ZERO
        return self.quantity * (mark - self.average_cost)

    def net_pnl(self, mark: Decimal | None) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl(mark) - self.fees_paid

    def exposure(self, mark: Decimal) -> Decimal:
        return abs(self.quantity) * mark
