"""Position and PnL arithmetic for one account and symbol: average cost, realized and unrealized PnL.

Realized PnL is gross of fees; fees are kept apart (`fees_paid`) and `net_pnl` subtracts them, so a
report can show both. Everything is Decimal; flips from long to short close the old side at the fill price
and open the new side at the same price.

A position keeps the cost of what it holds (`cost`, signed like the quantity), not its average price: the
average is a division that a Decimal must round, while the cost is a sum of fills. A partial close moves a
share of the cost, rounded to the cost's own decimals (at least 12), into realized PnL and leaves exactly
the rest, so realized + unrealized is always
the exact cash flow of the fills plus the holding at the mark, to the last digit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from schemas.primitives import Side

ZERO = Decimal(0)


# The closed share of a cost is rounded to this many decimals, or to the cost's own if it has more: then
# what is left of the cost (cost - share) is exact, and nothing is lost between realized and unrealized.
SHARE_DECIMALS = 12


def _share(cost: Decimal, fraction: Decimal) -> Decimal:
    exponent = min(int(cost.as_tuple().exponent), -SHARE_DECIMALS)
    return (cost * fraction).quantize(Decimal(1).scaleb(exponent))


class Position(BaseModel):
    """What one account holds in one symbol (negative quantity is short)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = ZERO
    cost: Decimal = ZERO  # what the held quantity cost: sum of quantity x price, negative when short
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO

    @model_validator(mode="before")
    @classmethod
    def _from_average_cost(cls, data: Any) -> Any:
        """`average_cost=` as well as `cost=`: a statement's way of saying it, and how positions were
        stored (in tables' changelogs, workflow inputs) before the cost was kept."""
        if isinstance(data, dict) and "average_cost" in data:
            data = dict(data)
            average = Decimal(data.pop("average_cost"))
            if "cost" not in data:
                data["cost"] = Decimal(data.get("quantity", ZERO)) * average
        return data

    @property
    def average_cost(self) -> Decimal:
        """Average entry price of what is held (zero when flat); rounded, for display and risk only."""
        return ZERO if self.quantity == 0 else self.cost / self.quantity

    def apply_fill(self, side: Side, quantity: Decimal, price: Decimal, fee: Decimal = ZERO) -> Position:
        if quantity <= 0:
            raise ValueError(f"fill quantity must be positive, got {quantity}")
        signed = quantity * side.sign
        held = self.quantity
        fees = self.fees_paid + fee
        if held == 0 or (held > 0) == (signed > 0):
            return Position(
                quantity=held + signed,
                cost=self.cost + signed * price,
                realized_pnl=self.realized_pnl,
                fees_paid=fees,
            )
        closed = min(quantity, abs(held))
        released = self.cost if closed == abs(held) else _share(self.cost, closed / abs(held))
        direction = Decimal(1) if held > 0 else Decimal(-1)
        realized = self.realized_pnl + closed * price * direction - released
        total = held + signed
        left = self.cost - released
        if total != 0 and (total > 0) != (held > 0):
            left = total * price  # flipped: the new side was opened at this fill
        return Position(quantity=total, cost=left, realized_pnl=realized, fees_paid=fees)

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.quantity == 0:
            return ZERO
        return self.quantity * mark - self.cost

    def net_pnl(self, mark: Decimal | None) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl(mark) - self.fees_paid

    def exposure(self, mark: Decimal) -> Decimal:
        return abs(self.quantity) * mark
