"""The one interface orders reach a venue through, paper or live (order stage, live execution stage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from schemas.primitives import OrderType, Side, TimeInForce
from trading.execution import LegReport


@dataclass(frozen=True)
class VenueOrder:
    """One leg as a venue sees it; `client_order_id` is the same on every retry of the submission."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce
    market_time: datetime


class VenueError(Exception):
    """A venue failed to answer (network, rate limit, outage); worth a retry and counted by the breaker."""


class Venue(Protocol):
    name: str

    async def submit(self, order: VenueOrder) -> LegReport:
        """Place the order (or find the one a previous attempt placed) and report its fills."""
        ...

    async def close(self) -> None: ...
