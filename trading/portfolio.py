"""The portfolio's view of one account and symbol: the position, the last mark, the fills applied."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from schemas import Event, OrderExecuted, PositionUpdated
from trading.ids import derived_id
from trading.positions import Position


class PositionState(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    symbol: str
    quote_currency: str
    position: Position = Position()
    mark_price: Decimal | None = None
    last_fill_id: str | None = None

    @classmethod
    def open(cls, fill: OrderExecuted) -> PositionState:
        return cls(account_id=fill.account_id, symbol=fill.symbol, quote_currency=fill.fee_currency)

    def apply(self, fill: OrderExecuted, mark: Decimal | None) -> PositionState:
        position = self.position.apply_fill(fill.side, fill.fill_quantity, fill.fill_price, fill.fee)
        return self.model_copy(
            update={
                "position": position,
                "mark_price": mark if mark is not None else fill.fill_price,
                "last_fill_id": fill.fill_id,
            }
        )

    def marked(self, mark: Decimal) -> PositionState:
        return self.model_copy(update={"mark_price": mark})

    def event(self, cause: Event | None, label: str = "fill") -> PositionUpdated:
        """position.updated for this state, caused by `cause` (a fill); a re-mark without one is a root."""
        fields = {
            "account_id": self.account_id,
            "symbol": self.symbol,
            "quantity": self.position.quantity,
            "average_cost": self.position.average_cost,
            "realized_pnl": self.position.realized_pnl,
            "unrealized_pnl": self.position.unrealized_pnl(self.mark_price),
            "fees_paid": self.position.fees_paid,
            "mark_price": self.mark_price,
            "quote_currency": self.quote_currency,
            "last_fill_id": self.last_fill_id,
        }
        if cause is None:
            return PositionUpdated(**fields)
        return cause.caused(
            PositionUpdated, event_id=derived_id(cause.event_id, f"position:{label}"), **fields
        )
