"""Portfolio events: positions after each fill or mark, and the outcome of a rebalance."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from schemas.base import Event
from schemas.primitives import Currency, Identifier, Money, NonNegativeMoney, Price, SignedQuantity, Symbol


class PositionUpdated(Event):
    """An account's position in one symbol, after a fill or a new mark price."""

    EVENT_TYPE = "position.updated"

    account_id: Identifier
    symbol: Symbol
    quantity: SignedQuantity  # negative when short
    average_cost: Money = Field(ge=0)  # zero when flat
    realized_pnl: Money
    unrealized_pnl: Money
    fees_paid: NonNegativeMoney
    mark_price: Price | None = None
    quote_currency: Currency
    last_fill_id: Identifier | None = None


class RebalanceStatus(StrEnum):
    COMPLETED = "completed"
    PARTIAL = "partial"  # some child orders failed and were recorded, the rest completed
    COMPENSATED = "compensated"  # completed legs were reversed after a failure
    FAILED = "failed"


class PortfolioRebalanced(Event):
    """The outcome of one rebalance: targets, the orders it placed and how it ended."""

    EVENT_TYPE = "portfolio.rebalanced"

    portfolio_id: Identifier
    account_id: Identifier
    target_weights: dict[Symbol, Decimal]
    order_ids: tuple[Identifier, ...]
    failed_order_ids: tuple[Identifier, ...] = ()
    status: RebalanceStatus
    detail: str = Field(default="", max_length=2000)
