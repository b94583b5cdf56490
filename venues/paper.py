"""The paper venue: fills against the recorded or live book as of the order's market time plus latency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import NAMESPACE_OID, uuid5

from trading.books import BookTop
from trading.execution import LegReport, VenueFill
from trading.markets import MarketCatalog
from trading.matching import match_against_top, taker_fee
from venues.base import VenueOrder

BookLookup = Callable[[str, str, datetime], BookTop | None]


class PaperVenue:
    """Simulates one venue: its real fee schedule (from ccxt metadata), its book, a configured latency.

    Orders are immediate-or-cancel against the top of book in force when they arrive: what the book showed
    fills, the rest is canceled. The same order against the same book always fills the same way.
    """

    def __init__(
        self, name: str, catalog: MarketCatalog, book_as_of: BookLookup, latency_ms: Decimal
    ) -> None:
        self.name = name
        self._catalog = catalog
        self._book_as_of = book_as_of
        self._latency = timedelta(milliseconds=float(latency_ms))

    def arrival_time(self, market_time: datetime) -> datetime:
        """When an order sent at `market_time` reaches the simulated book."""
        return market_time + self._latency

    async def submit(self, order: VenueOrder) -> LegReport:
        return self.fill(order)

    def fill(self, order: VenueOrder) -> LegReport:
        """What the book in force on the order's arrival gives it (pure given the book lookup)."""
        rules = self._catalog.get(self.name, order.symbol)
        if rules is None or not rules.active:
            return LegReport(self.name, order.quantity, None, refusal=f"{order.symbol} not tradable here")
        venue_order_id = f"paper-{self.name}-{order.client_order_id}"
        top = self._book_as_of(self.name, order.symbol, self.arrival_time(order.market_time))
        match = None
        if top is not None:
            match = match_against_top(order.side, order.quantity, order.limit_price, top, order.time_in_force)
        if match is None:
            return LegReport(self.name, order.quantity, venue_order_id)
        fill = VenueFill(
            fill_id=f"{self.name}-{uuid5(NAMESPACE_OID, order.client_order_id).hex[:24]}",
            quantity=match.quantity,
            price=match.price,
            fee=taker_fee(match.quantity, match.price, rules.taker_fee),
            fee_currency=rules.quote,
        )
        return LegReport(self.name, order.quantity, venue_order_id, fills=(fill,))

    async def close(self) -> None:
        return None
