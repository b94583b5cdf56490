"""What the dashboard reads beyond the other endpoints: each step's latency and the equity curves, from
the event store, bounded by a window and a row limit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from api import queries
from reports.session import TOTAL, equity_curves, step_latencies, unique
from schemas import Event, ExchangeRouted, OrderExecuted, OrderRequested, OrderValidated, PositionUpdated

_STEP_TYPES: list[type[Event]] = [
    OrderRequested,
    OrderValidated,
    ExchangeRouted,
    OrderExecuted,
    PositionUpdated,
]
# A curve drawn on a page needs no more points than it has pixels across.
CURVE_POINTS = 400


async def latencies(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None, limit: int
) -> dict[str, Any]:
    """Per pipeline step, p50/p90/p99/max and count in ms over the newest `limit` lifecycle events of the
    window (`zvt session`'s figures: each order's first event of each step, by its timestamp)."""
    found = await queries.events(connection, _STEP_TYPES, since=since, account_id=account_id, limit=limit)
    steps = step_latencies(unique(reversed(found)))
    return {
        "since": since.isoformat(),
        "events_read": len(found),
        "truncated": len(found) >= limit,
        "steps": [{"step": name} | figures for name, figures in steps.items()],
    }


def decided_by_hand_at_request(events: Sequence[Event]) -> list[Event]:
    """Orders placed by hand (the API, `zvt publish`) carry no market time, which leaves them off the
    session report's curves; on a live desk the market's clock is the wall clock, so the dashboard places
    them at their request's timestamp."""
    return [
        event.model_copy(update={"market_time": event.timestamp})
        if isinstance(event, OrderRequested) and event.market_time is None
        else event
        for event in events
    ]


def thinned(curve: Sequence[tuple[datetime, Decimal]], points: int = CURVE_POINTS) -> list[list[str]]:
    """At most `points` of the curve, evenly spaced by index, its last point always kept."""
    step = max(1, -(-len(curve) // points))
    kept = list(curve[::step])
    if curve and kept[-1] is not curve[-1]:
        kept.append(curve[-1])
    return [[at.isoformat(), str(value)] for at, value in kept]


async def equity(
    connection: asyncpg.Connection, *, since: datetime, account_id: str | None, limit: int
) -> dict[str, Any]:
    """Net PnL over time of all positions and of each strategy (or account), as `zvt session` draws it."""
    found, window = await queries.pnl_window(connection, since=since, account_id=account_id, limit=limit)
    curves = equity_curves(decided_by_hand_at_request(window))
    return {
        "since": since.isoformat(),
        "events_read": len(found),
        "truncated": len(found) >= limit,
        "total_key": TOTAL,
        "curves": {name: thinned(curve) for name, curve in curves.items()},
    }
