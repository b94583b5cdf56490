"""`zvt audit`: the fills of a session checked against the recorded market files (trading/fill_audit.py).

The fills come from a session's report (`session.json`, its `fills`) or from the event store (the
`order.executed` rows a session's topics carried, with their orders' terms); the market from the recorded
files, read by the replay's own readers (`marketreplay.readers`), so the audit sees the ticks the session
was fed. The rules' latency and `max_book_age` are the paper venue's (`[paper]` in config/trading.toml).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from marketreplay.readers import read_file
from schemas import CODEC, OrderExecuted, OrderRequested
from schemas.primitives import Liquidity, Side
from topics import Topics
from trading.config import PaperSettings
from trading.fill_audit import AuditFill, AuditRules, RecordedMarket
from trading.risk import order_market_time

E = TypeVar("E", OrderExecuted, OrderRequested)


def recorded_market(paths: Iterable[Path]) -> RecordedMarket:
    """Every tick of the recorded files, as the replay reads them."""
    return RecordedMarket(tick for path in paths for tick in read_file(path))


def audit_rules(paper: PaperSettings) -> AuditRules:
    return AuditRules(max_book_age=timedelta(seconds=float(paper.max_book_age_seconds)))


def latency_of(paper: PaperSettings) -> timedelta:
    return timedelta(milliseconds=float(paper.latency_ms))


def _when(own: datetime | None, decided: datetime | None, latency: timedelta) -> datetime | None:
    """The fill's own market time, else (the IOC paper venue's) its order's plus the venue's latency."""
    if own is not None:
        return own
    return None if decided is None else decided + latency


def _moment(text: object) -> datetime | None:
    return datetime.fromisoformat(str(text)) if text else None


def fills_from_report(report: Mapping[str, Any], latency: timedelta) -> list[AuditFill]:
    """The fills a session report lists (a report without `liquidity` predates it: its fills are taker)."""
    fills = []
    for number, fill in enumerate(report["fills"], start=1):
        limit = fill.get("limit_price")
        fills.append(
            AuditFill(
                order_id=fill["order_id"],
                fill_id=str(fill.get("fill_id") or f"#{number}"),
                venue=fill["venue"],
                symbol=fill["symbol"],
                side=Side(fill["side"]),
                price=Decimal(fill["price"]),
                quantity=Decimal(fill["quantity"]),
                liquidity=Liquidity(fill.get("liquidity") or Liquidity.TAKER),
                at=_when(_moment(fill.get("market_time")), _moment(fill.get("order_market_time")), latency),
                limit_price=None if limit is None else Decimal(limit),
            )
        )
    return fills


def audit_fill(fill: OrderExecuted, request: OrderRequested | None, latency: timedelta) -> AuditFill:
    """An `order.executed` with its order's request (for its market time and limit price)."""
    decided = None if request is None else order_market_time(request)
    return AuditFill(
        order_id=fill.order_id,
        fill_id=fill.fill_id,
        venue=fill.venue,
        symbol=fill.symbol,
        side=fill.side,
        price=fill.fill_price,
        quantity=fill.fill_quantity,
        liquidity=fill.liquidity,
        at=_when(fill.market_time, decided, latency),
        limit_price=None if request is None else request.limit_price,
    )


_STORED = """
SELECT event_data FROM event_store
WHERE event_type = $1 AND metadata->>'topic' = $2
ORDER BY position
"""


async def fills_from_store(
    connection: asyncpg.Connection, prefix: str, latency: timedelta
) -> list[AuditFill]:
    """The fills the event store holds from the topics of `prefix` (a session's), each once."""
    executed = await _stored(connection, OrderExecuted, Topics.ORDERS_EXECUTED.full_name(prefix))
    requests = await _stored(connection, OrderRequested, Topics.ORDERS_REQUESTED.full_name(prefix))
    by_order = {request.order_id: request for request in requests}
    unique = {fill.event_id: fill for fill in executed}
    return [audit_fill(fill, by_order.get(fill.order_id), latency) for fill in unique.values()]


async def _stored(connection: asyncpg.Connection, kind: type[E], topic: str) -> Sequence[E]:
    """The events of `kind` stored from `topic` (a connection of `eventstore.db.connect`: JSON as bytes)."""
    rows = await connection.fetch(_STORED, kind.EVENT_TYPE, topic)
    events = [CODEC.decode(row[0]) for row in rows]
    return [event for event in events if isinstance(event, kind)]
