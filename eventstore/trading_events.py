"""`trading_events`: order lifecycle events flattened into columns, in monthly partitions, for analytics.

Written by the sink in the same transaction as the events. Not a replayable read model: it is a
time-series copy whose old partitions retention drops or archives; the event store keeps everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from eventstore.aggregates import ORDER_EVENTS
from eventstore.partitions import ensure_months, month_of
from eventstore.store import StoredEvent

TABLE = "trading_events"
ORDER_TYPES = frozenset(model.EVENT_TYPE for model in ORDER_EVENTS)
COLUMNS = (
    "timestamp",
    "event_id",
    "position",
    "event_type",
    "correlation_id",
    "order_id",
    "account_id",
    "symbol",
    "side",
    "venue",
    "quantity",
    "price",
)


def record_of(event: StoredEvent) -> tuple[Any, ...]:
    """Pure: the row of one order event; a fill's quantity and price, else the order's."""
    data = orjson.loads(event.data)
    quantity = data.get("fill_quantity") or data.get("quantity")
    price = data.get("fill_price") or data.get("limit_price")  # Decimals travel as strings: exact
    return (
        event.timestamp,
        event.event_id,
        event.position,
        event.event_type,
        event.correlation_id,
        data["order_id"],
        data["account_id"],
        data["symbol"],
        data["side"],
        data.get("venue"),
        None if quantity is None else Decimal(quantity),
        None if price is None else Decimal(price),
    )


async def insert(connection: asyncpg.Connection, stored: Sequence[StoredEvent]) -> int:
    orders = [event for event in stored if event.event_type in ORDER_TYPES]
    if not orders:
        return 0
    await ensure_months(connection, TABLE, {month_of(event.timestamp) for event in orders})
    records = [record_of(event) for event in orders]
    await connection.copy_records_to_table(TABLE, records=records, columns=COLUMNS)
    return len(records)
