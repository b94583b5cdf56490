"""What the API reads from the event store (as `zvt_reader`): read models where they exist (positions,
portfolios, order flows), stored events otherwise, always bounded by a window and a row limit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from eventstore.projections import Position
from eventstore.store import StoredEvent
from eventstore.trace import TraceNode, build, describe, find
from reports.session import TOTAL, analytics_by_strategy, equity_curves, pnl_by_strategy, unique
from schemas import CODEC, Event, OrderExecuted, OrderRequested, PriceUpdated
from trading.analytics import Basis

_POSITIONS = """
SELECT account_id, symbol, quantity, average_cost, realized_pnl, unrealized_pnl, fees_paid, mark_price,
       quote_currency, last_event_version, last_position, updated_at
FROM position_projections WHERE ($1::text IS NULL OR account_id = $1) ORDER BY account_id, symbol
"""
_PORTFOLIOS = """
SELECT portfolio_id, currency, total_value, realized_pnl, unrealized_pnl, fees_paid, open_positions,
       updated_at
FROM portfolio_projections WHERE ($1::text IS NULL OR portfolio_id = $1) ORDER BY portfolio_id, currency
"""
# The order flows (one correlation each, rooted at its order.requested), newest first, with their status
# from the read model, what has filled, from the flattened trading_events, and a rejected one's reason.
_ORDERS = """
SELECT c.status, c.last_event_at, e.event_data,
       (SELECT coalesce(sum(t.quantity), 0) FROM trading_events t
        WHERE t.order_id = e.aggregate_id AND t.event_type = 'order.executed'
          AND t."timestamp" >= c.started_at) AS filled,
       CASE WHEN c.status = 'rejected' THEN
         (SELECT r.event_data->>'reason' || ': ' || (r.event_data->>'detail') FROM event_store r
          WHERE r.correlation_id = c.correlation_id AND r.event_type = 'order.rejected'
          ORDER BY r.position LIMIT 1)
       END AS rejection
FROM event_correlations c JOIN event_store e ON e.event_id = c.correlation_id
WHERE c.flow_type = 'order' AND c.started_at >= $1 AND e.event_type = 'order.requested'
  AND ($2::text IS NULL OR e.event_data->>'account_id' = $2)
  AND ($3::text IS NULL OR c.status = $3)
ORDER BY c.started_at DESC LIMIT $4
"""
_EVENTS = """
SELECT event_data FROM event_store
WHERE event_type = ANY($1::text[]) AND "timestamp" >= $2
  AND ($3::text IS NULL OR event_data->>'account_id' = $3)
ORDER BY position DESC LIMIT $4
"""


def _decimal_row(row: asyncpg.Record) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in row.items()}


async def positions(connection: asyncpg.Connection, account_id: str | None) -> list[Position]:
    """The positions read model's rows (eventstore.projections.Position, the table's own shape)."""
    return [Position(*row) for row in await connection.fetch(_POSITIONS, account_id)]


async def portfolios(connection: asyncpg.Connection, account_id: str | None) -> list[dict[str, Any]]:
    return [_decimal_row(row) for row in await connection.fetch(_PORTFOLIOS, account_id)]


async def orders(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    found = []
    for row in await connection.fetch(_ORDERS, since, account_id, status, limit):
        request = orjson.loads(row["event_data"])
        found.append(
            request
            | {
                "status": row["status"],
                "filled": str(row["filled"]),
                "last_event_at": row["last_event_at"],
                "rejection": row["rejection"],
            }
        )
    return found


async def events(
    connection: asyncpg.Connection,
    kinds: Sequence[type[Event]],
    *,
    since: datetime,
    account_id: str | None = None,
    limit: int = 1000,
) -> list[Event]:
    """Stored events of `kinds`, newest first (decoded and upcast as every reader of the store does)."""
    types = [kind.EVENT_TYPE for kind in kinds]
    rows = await connection.fetch(_EVENTS, types, since, account_id, limit)
    return [CODEC.decode(row[0]) for row in rows]


def _node(node: TraceNode) -> dict[str, Any]:
    return {
        "event_id": str(node.event.event_id),
        "event_type": node.event.event_type,
        "timestamp": node.event.timestamp.isoformat(),
        "latency_ms": None if node.latency is None else node.latency.total_seconds() * 1000,
        "summary": describe(node.event),
        "children": [_node(child) for child in node.children],
    }


async def trace(connection: asyncpg.Connection, reference: str) -> list[dict[str, Any]]:
    """`zvt trace` as JSON: the causal tree of an order id, a correlation id or an event id."""
    stored: list[StoredEvent] = await find(connection, reference)
    return [_node(root) for root in build(stored)]


_PNL_TYPES: list[type[Event]] = [OrderRequested, OrderExecuted, PriceUpdated]


async def pnl_window(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None, limit: int
) -> tuple[list[Event], list[Event]]:
    """The window's stored orders, fills and prices (newest first, as read) and, oldest first and each
    once, those of `account_id` (every price: any account's position is marked by them)."""
    found = await events(connection, _PNL_TYPES, since=since, account_id=None, limit=limit)
    window = unique(reversed(found))
    if account_id is not None:
        window = [
            e for e in window if isinstance(e, PriceUpdated) or getattr(e, "account_id", None) == account_id
        ]
    return found, window


async def pnl(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None, basis: Basis, limit: int
) -> dict[str, Any]:
    """PnL per strategy (and account and symbol), and each strategy's performance figures, from the
    window's stored orders, fills and prices: the same computation as `zvt session`'s report. An order
    requested before the window is left out of the curves (its market time is not known)."""
    found, window = await pnl_window(connection, since=since, account_id=account_id, limit=limit)
    fills = [event for event in window if isinstance(event, OrderExecuted)]
    marks = {(e.venue, e.symbol): e.price for e in window if isinstance(e, PriceUpdated)}
    curves = equity_curves(window)
    figures = analytics_by_strategy(window, curves, basis)
    return {
        "since": since.isoformat(),
        "events_read": len(found),
        "truncated": len(found) >= limit,
        "by_strategy": [line.as_json() for line in pnl_by_strategy(fills, marks)],
        "analytics": {
            "capital_per_strategy": str(basis.capital),
            "period_seconds": basis.period.total_seconds(),
            "total_key": TOTAL,
            "by_strategy": {name: performance.as_json() for name, performance in figures.items()},
        },
        "accounts": await portfolios(connection, account_id),
    }
