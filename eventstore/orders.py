"""An order as its stored events describe it, the open orders, and the change requests (cancel, amend) put
in an order's chain: the read side of the order lifecycle that `zvt orders` / `zvt cancel` / `zvt amend`
and the API share (read as `zvt_reader`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import JsonValue

from eventstore.store import StoredEvent, read_aggregate
from schemas import (
    Event,
    ExchangeRouted,
    OrderAccepted,
    OrderAmended,
    OrderAmendRequested,
    OrderCanceled,
    OrderCancelRequested,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderTriggered,
    OrderValidated,
)

ZERO = Decimal(0)
ENDING_STATUSES = (OrderStatus.FILLED, OrderStatus.CANCELED)
# The events an order's state is read from (the paper venue commands and change requests are not).
_TERMS = (OrderRequested, OrderValidated, ExchangeRouted, OrderAccepted, OrderAmended)
_LIFECYCLE = (*_TERMS, OrderExecuted, OrderTriggered, OrderRejected, OrderCanceled, OrderExpired)
# Open on the event store's word: validated (risk passed it) and nothing that ended it since.
OPEN_STATES = ("validated", "accepted", "partially_filled")


@dataclass(frozen=True)
class OrderView:
    """One order as its stored events describe it; tolerant of the order the sink stored them in (the
    events of one order come over several topics), so nothing here assumes a causal order of rows."""

    order_id: str
    account_id: str
    strategy_id: str | None
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    venue: str | None
    filled: Decimal
    state: str
    requested_at: datetime
    correlation_id: UUID
    last_event_id: UUID  # the latest lifecycle event: what a change request is caused by
    last_market_time: datetime | None  # the latest market time any of its events names


def _market_times(event: Event) -> list[datetime]:
    names = ("market_time", "accepted_at", "triggered_at", "amended_at", "expire_at")
    found = [getattr(event, name, None) for name in names]
    return [moment for moment in found if isinstance(moment, datetime)]


def _state(events: Sequence[Event], filled: Decimal, quantity: Decimal) -> str:
    ends = {OrderRejected: "rejected", OrderCanceled: "canceled", OrderExpired: "expired"}
    for event in events:
        if type(event) in ends:
            return ends[type(event)]
        if isinstance(event, OrderExecuted) and event.status in ENDING_STATUSES:
            return "filled" if event.status is OrderStatus.FILLED else "canceled"
    if any(isinstance(e, OrderAccepted) for e in events) or filled > 0:
        return "partially_filled" if 0 < filled < quantity else "accepted"
    if any(isinstance(e, OrderValidated | ExchangeRouted) for e in events):
        return "validated"
    return "requested"


def order_view(stored: Sequence[StoredEvent]) -> OrderView | None:
    """Pure: the order of one aggregate's stored events, or None when it has no request or validation."""
    rows = sorted((s for s in stored if s.event_type.startswith(("order.", "exchange."))), key=_row_order)
    events = [event for event in (row.event() for row in rows) if isinstance(event, _LIFECYCLE)]
    terms = [event for event in events if isinstance(event, _TERMS)]
    if not terms:
        return None
    first, last_terms = terms[0], terms[-1]
    fills = {event.event_id: event for event in events if isinstance(event, OrderExecuted)}
    filled = sum((fill.fill_quantity for fill in fills.values()), ZERO)
    venue = next((e.venue for e in reversed(events) if isinstance(e, OrderAccepted | OrderExecuted)), None)
    moments = [moment for event in events for moment in _market_times(event)]
    return OrderView(
        order_id=first.order_id,
        account_id=first.account_id,
        strategy_id=first.strategy_id,
        symbol=first.symbol,
        side=str(first.side),
        order_type=str(last_terms.order_type),
        quantity=last_terms.quantity,
        limit_price=last_terms.limit_price,
        stop_price=last_terms.stop_price,
        venue=venue,
        filled=filled,
        state=_state(events, filled, last_terms.quantity),
        requested_at=first.timestamp,
        correlation_id=first.correlation_id,
        last_event_id=events[-1].event_id,
        last_market_time=max(moments, default=None),
    )


def _row_order(row: StoredEvent) -> tuple[datetime, int]:
    return row.timestamp, row.position


async def load_order(connection: asyncpg.Connection, order_id: str) -> OrderView | None:
    return order_view(await read_aggregate(connection, order_id))


_OPEN_ORDERS = """
SELECT aggregate_id FROM event_store
WHERE "timestamp" >= $1 AND event_type = ANY($2::text[])
  AND ($3::text IS NULL OR event_data->>'account_id' = $3)
GROUP BY aggregate_id
HAVING bool_or(event_type = 'order.validated')
   AND NOT bool_or(event_type = ANY($4::text[])
                   OR (event_type = 'order.executed' AND event_data->>'status' = ANY($5::text[])))
"""


async def open_orders(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None = None
) -> list[OrderView]:
    """Orders validated at or after `since` with no terminal event in the store, oldest first."""
    ended = [OrderRejected.EVENT_TYPE, OrderCanceled.EVENT_TYPE, OrderExpired.EVENT_TYPE]
    rows = await connection.fetch(
        _OPEN_ORDERS,
        since,
        [kind.EVENT_TYPE for kind in _LIFECYCLE],
        account_id,
        ended,
        [status.value for status in ENDING_STATUSES],
    )
    views = [await load_order(connection, row[0]) for row in rows]
    found = [view for view in views if view is not None and view.state in OPEN_STATES]
    return sorted(found, key=lambda view: (view.requested_at, view.order_id))


ChangeAt = Literal["now", "order"]


def _in_chain(order_id: str, account_id: str, order: OrderView | None, at: ChangeAt) -> dict[str, Any]:
    """The fields that put a change request in the order's chain: its correlation, caused by its last
    event (an order the store does not know: the request is a root of its own, answered unknown_order)."""
    fields: dict[str, Any] = {"order_id": order_id, "account_id": account_id}
    if order is not None:
        fields |= {
            "strategy_id": order.strategy_id,
            "correlation_id": order.correlation_id,
            "causation_id": order.last_event_id,
            "market_time": order.last_market_time if at == "order" else None,
        }
    return fields


def cancel_request(
    order_id: str,
    account_id: str,
    order: OrderView | None,
    *,
    at: ChangeAt = "now",
    by: str = "hand (zvt cancel)",
    metadata: dict[str, JsonValue] | None = None,
) -> OrderCancelRequested:
    """Pure: the cancel of an order by an operator (`zvt cancel`, the API), `by` whom or what."""
    return OrderCancelRequested(
        **_in_chain(order_id, account_id, order, at), detail=f"by {by}", metadata=metadata or {}
    )


def amend_request(
    order_id: str,
    account_id: str,
    order: OrderView | None,
    *,
    quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
    at: ChangeAt = "now",
) -> OrderAmendRequested:
    """Pure: the amend of an order by hand (the quantity is the new total, filled part included)."""
    return OrderAmendRequested(
        **_in_chain(order_id, account_id, order, at), quantity=quantity, limit_price=limit_price
    )
