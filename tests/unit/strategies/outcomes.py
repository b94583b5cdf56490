"""Building a strategy's order updates, and driving a strategy through the runner with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from schemas import (
    OrderCancelRequested,
    OrderRequested,
    OrderUpdateKind,
    PaperOutcomesThrough,
    PriceUpdated,
    StrategyOrderUpdate,
)
from strategies.runner import StrategyInstance, StrategySlot

NAMESPACE = UUID("0f5e3c1a-8a47-4e0c-9a83-5d0c2d3f4b71")


def update(
    order: OrderRequested,
    kind: OrderUpdateKind,
    *,
    at: datetime | None,
    fill: str = "0",
    price: str | None = None,
    cumulative: str = "0",
    remaining: str = "0",
    ended: bool = False,
) -> StrategyOrderUpdate:
    """An update of `order`; its id derives from what it says, so building it twice gives the same one."""
    return StrategyOrderUpdate(
        event_id=uuid5(NAMESPACE, f"{order.order_id}|{kind}|{cumulative}|{at}"),
        **order.order_fields(),
        kind=kind,
        source_event_id=uuid5(NAMESPACE, f"source|{order.order_id}|{kind}|{cumulative}"),
        ended=ended,
        market_time=at,
        fill_quantity=Decimal(fill),
        fill_price=None if price is None else Decimal(price),
        cumulative_quantity=Decimal(cumulative),
        remaining_quantity=Decimal(remaining),
    )


def filled(order: OrderRequested, *, at: datetime | None, price: str) -> StrategyOrderUpdate:
    """`order` filled completely at `price` in one fill."""
    q = str(order.quantity)
    return update(order, OrderUpdateKind.FILLED, at=at, fill=q, price=price, cumulative=q, ended=True)


Arrival = PriceUpdated | StrategyOrderUpdate | PaperOutcomesThrough


class Driver:
    """One strategy instance through the runner as the strategies stage drives it: prices in offset order,
    updates into the inbox whenever they arrive, a price held back while `must_wait` says so.

    `keeping_up`: the paper engine's outcome watermark comes with each price, through its time less the
    reaction delay (what the tests' interleavings make true: every update a price needs comes before it);
    without it, only `PaperOutcomesThrough` arrivals move it, as the strategies stage does."""

    def __init__(self, instance: StrategyInstance, *, keeping_up: bool = True) -> None:
        self.instance = instance
        self.keeping_up = keeping_up
        self.slot: StrategySlot | None = None
        self.offset = 0
        self.sent: list[OrderRequested | OrderCancelRequested] = []
        self.held: list[PriceUpdated] = []

    def feed(self, arrival: Arrival) -> None:
        if isinstance(arrival, PaperOutcomesThrough):
            self.watermark(arrival.through)
        elif isinstance(arrival, StrategyOrderUpdate):
            learned = self.instance.learn(self.slot, arrival)
            if learned is not None:
                self.slot = learned
        else:
            if self.keeping_up:
                self.watermark(arrival.market_time - self.instance.delay)
            self.held.append(arrival)
        self._release()

    def watermark(self, through: datetime) -> None:
        slot = self.slot or StrategySlot()
        if slot.outcomes_through is None or through > slot.outcomes_through:
            self.slot = slot.model_copy(update={"outcomes_through": through})

    def _release(self) -> None:
        while self.held and not self.instance.must_wait(self.slot, self.held[0], self.offset):
            stepped = self.instance.step(self.slot, self.held.pop(0), self.offset)
            self.offset += 1
            assert stepped is not None
            self.slot, events = stepped
            self.sent.extend(events)

    def run(self, arrivals: Sequence[Arrival]) -> list[dict[str, Any]]:
        for arrival in arrivals:
            self.feed(arrival)
        return sent_terms(self.sent)

    def requests(self) -> list[OrderRequested]:
        return [e for e in self.sent if isinstance(e, OrderRequested)]


def sent_terms(events: Sequence[OrderRequested | OrderCancelRequested]) -> list[dict[str, Any]]:
    """What was sent, without the wall-clock envelope."""
    return [e.model_dump(exclude={"timestamp"}) for e in events]
