"""Deterministic order flows for tests and benchmarks: request, validation, routing, creation, fills,
position updates, with a few rejections, over several accounts and symbols.

Positions are long-only so the bookkeeping stays obvious: a sell never exceeds the quantity held.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas import (
    Event,
    ExchangeRouted,
    OrderCreated,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderValidated,
    PositionUpdated,
    RejectReason,
    RouteLeg,
    VenueScore,
)
from schemas.primitives import Liquidity, OrderType, Side

START = datetime(2024, 8, 9, 9, 30, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USD")
PRICES = {
    "BTC/USDT": Decimal(61000),
    "ETH/USDT": Decimal(2600),
    "SOL/USDT": Decimal(150),
    "BTC/USD": Decimal(61000),
}
FEE_RATE = Decimal("0.001")


@dataclass
class _Book:
    quantity: Decimal = Decimal(0)
    average_cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass
class FlowGenerator:
    """`flow(i)` yields the events of the i-th order; `events(n)` at least n events of whole flows."""

    seed: int = 7
    accounts: int = 5
    start: datetime = START
    rng: random.Random = field(init=False)
    books: dict[tuple[str, str], _Book] = field(init=False, default_factory=dict)
    next_index: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def events(self, count: int) -> list[Event]:
        """At least `count` events of the next whole flows."""
        events: list[Event] = []
        while len(events) < count:
            events += self.flow(self.next_index)
        return events

    def flow(self, index: int) -> list[Event]:
        self.next_index = index + 1
        return list(self._flow(index))

    def _flow(self, index: int) -> Iterator[Event]:
        rng = self.rng
        account = f"acct-{rng.randrange(self.accounts)}"
        symbol = rng.choice(SYMBOLS)
        book = self.books.setdefault((account, symbol), _Book())
        side = Side.SELL if book.quantity > 0 and rng.random() < 0.4 else Side.BUY
        quantity = Decimal(rng.randint(1, 1000)) / 1000
        if side is Side.SELL:
            quantity = min(quantity, book.quantity)
        price = PRICES[symbol] * (1 + Decimal(rng.randint(-500, 500)) / 10000)
        now = self.start + timedelta(seconds=index)
        order_id = f"ord-{self.seed}-{index:07d}"
        terms = {"order_id": order_id, "account_id": account, "symbol": symbol, "side": side}
        request = OrderRequested(
            **terms, order_type=OrderType.LIMIT, quantity=quantity, limit_price=price, timestamp=now
        )
        yield request
        if rng.random() < 0.05:
            yield request.caused(
                OrderRejected,
                **terms,
                reason=RejectReason.MAX_POSITION,
                detail="position limit",
                timestamp=now + timedelta(milliseconds=2),
            )
            return
        order = {**terms, "order_type": OrderType.LIMIT, "quantity": quantity, "limit_price": price}
        validated = request.caused(OrderValidated, **order, timestamp=now + timedelta(milliseconds=2))
        yield validated
        score = VenueScore(
            venue="paper",
            score=Decimal(1),
            fee_rate=FEE_RATE,
            expected_price=price,
            available_quantity=quantity,
            latency_ms=Decimal(5),
            healthy=True,
        )
        routed = validated.caused(
            ExchangeRouted,
            **order,
            legs=(RouteLeg(venue="paper", quantity=quantity, expected_price=price),),
            candidates=(score,),
            timestamp=now + timedelta(milliseconds=5),
        )
        yield routed
        created = routed.caused(
            OrderCreated,
            **order,
            venue="paper",
            venue_order_id=f"v-{index}",
            timestamp=now + timedelta(milliseconds=30),
        )
        yield created
        fills = (
            [quantity] if rng.random() < 0.6 or quantity < Decimal("0.002") else [quantity / 2, quantity / 2]
        )
        cumulative = Decimal(0)
        for number, fill in enumerate(fills, start=1):
            cumulative += fill
            fee = (fill * price * FEE_RATE).quantize(Decimal("0.00000001"))
            executed = created.caused(
                OrderExecuted,
                **terms,
                venue="paper",
                fill_id=f"{order_id}-f{number}",
                fill_quantity=fill,
                fill_price=price,
                fee=fee,
                fee_currency=symbol.split("/")[1],
                liquidity=Liquidity.MAKER,
                cumulative_quantity=cumulative,
                remaining_quantity=quantity - cumulative,
                status="filled" if cumulative == quantity else "partially_filled",
                timestamp=now + timedelta(milliseconds=40 + 20 * number),
            )
            yield executed
            yield executed.caused(
                PositionUpdated,
                account_id=account,
                symbol=symbol,
                last_fill_id=executed.fill_id,
                timestamp=executed.timestamp + timedelta(milliseconds=3),
                **self._apply(book, side, fill, price, fee, symbol),
            )

    def _apply(
        self, book: _Book, side: Side, fill: Decimal, price: Decimal, fee: Decimal, symbol: str
    ) -> dict[str, object]:
        if side is Side.BUY:
            book.average_cost = (book.average_cost * book.quantity + price * fill) / (book.quantity + fill)
            book.quantity += fill
        else:
            book.realized += (price - book.average_cost) * fill
            book.quantity -= fill
            if book.quantity == 0:
                book.average_cost = Decimal(0)
        book.fees += fee
        return {
            "quantity": book.quantity,
            "average_cost": book.average_cost,
            "realized_pnl": book.realized,
            "unrealized_pnl": (price - book.average_cost) * book.quantity,
            "fees_paid": book.fees,
            "mark_price": price,
            "quote_currency": symbol.split("/")[1],
        }
