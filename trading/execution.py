"""Turning what venues reported for a routed order into its lifecycle events.

Every event id derives from the routed event's id, so executing the same routed order twice (a redelivery
after a crash) yields the same events, and consumers drop the copies. An order ends in exactly one terminal
event: the last fill (`filled`, or `canceled` with the remainder) or a rejection when nothing filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from schemas import (
    Event,
    ExchangeRouted,
    OrderCreated,
    OrderExecuted,
    OrderRejected,
    OrderStatus,
    RejectReason,
)
from schemas.primitives import Liquidity
from trading.ids import derived_id

ZERO = Decimal(0)


@dataclass(frozen=True)
class VenueFill:
    fill_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity = Liquidity.TAKER


@dataclass(frozen=True)
class LegReport:
    """What one venue did with one leg: accepted it (with a venue order id) and filled some, or refused."""

    venue: str
    quantity: Decimal
    venue_order_id: str | None
    fills: tuple[VenueFill, ...] = ()
    refusal: str | None = None


def execution_events(routed: ExchangeRouted, reports: list[LegReport]) -> list[Event]:
    """order.created per accepted leg, then one order.executed per fill; a rejection if nothing filled."""
    events: list[Event] = []
    common = routed.order_fields()
    for report in reports:
        if report.venue_order_id is not None:
            events.append(
                routed.caused(
                    OrderCreated,
                    event_id=derived_id(routed.event_id, f"created:{report.venue}"),
                    **(routed.order_terms() | {"quantity": report.quantity}),
                    venue=report.venue,
                    venue_order_id=report.venue_order_id,
                )
            )
    fills = [(report.venue, fill) for report in reports for fill in report.fills]
    if not fills:
        refusals = [f"{r.venue}: {r.refusal}" for r in reports if r.refusal]
        reason = RejectReason.VENUE_REJECTED if refusals else RejectReason.NO_LIQUIDITY
        detail = "; ".join(refusals) or "no venue's book showed a fillable price and size on arrival"
        events.append(
            OrderRejected.for_order(
                routed, reason, detail[:1000], event_id=derived_id(routed.event_id, "rejected")
            )
        )
        return events
    cumulative = ZERO
    for index, (venue, fill) in enumerate(fills):
        cumulative += fill.quantity
        remaining = routed.quantity - cumulative
        last = index == len(fills) - 1
        if remaining <= 0:
            status = OrderStatus.FILLED
        elif last:
            status = OrderStatus.CANCELED  # the venues showed no more: the remainder is canceled (IOC)
        else:
            status = OrderStatus.PARTIALLY_FILLED
        events.append(
            routed.caused(
                OrderExecuted,
                event_id=derived_id(routed.event_id, f"fill:{venue}:{fill.fill_id}"),
                **common,
                venue=venue,
                fill_id=fill.fill_id,
                fill_quantity=fill.quantity,
                fill_price=fill.price,
                fee=fill.fee,
                fee_currency=fill.fee_currency,
                liquidity=fill.liquidity,
                cumulative_quantity=cumulative,
                remaining_quantity=max(remaining, ZERO),
                status=status,
            )
        )
    return events
