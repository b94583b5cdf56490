"""Read models folded from stored events: positions, portfolios and correlations (order flows).

The fold (`ReadModels.apply`) is pure; `project` applies a freshly appended batch inside the writer's
transaction (live), `write` replaces the tables with a whole fold (replay). Both go through the same
fold and the same upsert, which is why live and rebuilt read models agree.

Positions come from `position.updated` events, which carry the full state after each fill or mark
(quantity, average cost, PnL): the portfolio agent is the one source of truth for position math, and the
projection keeps the latest state per `account_id:symbol`. A portfolio (today: one per account) sums its
positions per quote currency. Market data events start one-event correlations; those are not tracked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
import orjson

from eventstore.aggregates import MARKET_EVENTS
from eventstore.store import StoredEvent
from schemas import (
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    PortfolioRebalanced,
    PositionUpdated,
)

POSITION_TYPE = PositionUpdated.EVENT_TYPE
# Events whose `status` field ends (or advances) the flow they belong to.
STATUS_TYPES: tuple[str, ...] = (OrderExecuted.EVENT_TYPE, PortfolioRebalanced.EVENT_TYPE)
UNTRACKED_TYPES = frozenset(model.EVENT_TYPE for model in MARKET_EVENTS)
FLOW_TYPES = {"order.requested": "order", PortfolioRebalanced.EVENT_TYPE: "rebalance"}
_FLOW_NAMES = frozenset(FLOW_TYPES.values())
OPEN = "open"
# The status of a flow after an event of this type (with this `status` field), when that ends it.
TERMINAL: Mapping[tuple[str, str | None], str] = {
    (OrderRejected.EVENT_TYPE, None): "rejected",
    # A resting order's end on the paper matching engine (or an IOC remainder's, as its own event).
    (OrderCanceled.EVENT_TYPE, None): "canceled",
    (OrderExpired.EVENT_TYPE, None): "expired",
    (OrderExecuted.EVENT_TYPE, "filled"): "filled",
    (OrderExecuted.EVENT_TYPE, "canceled"): "canceled",
    **{
        (PortfolioRebalanced.EVENT_TYPE, status): status
        for status in ("completed", "partial", "compensated", "failed")
    },
}


class Row(NamedTuple):
    """What the fold needs of a stored event: `data` only for position updates, `status` only for
    `STATUS_TYPES` (replay selects just these from PostgreSQL, which is most of its speed).
    Row and Correlation are named tuples: built once per event, a frozen dataclass costs 5x more."""

    position: int
    event_type: str
    timestamp: datetime
    correlation_id: UUID
    aggregate_version: int
    data: bytes | None
    status: str | None

    @classmethod
    def of(cls, event: StoredEvent) -> Row:
        needs_data = event.event_type == POSITION_TYPE or event.event_type in STATUS_TYPES
        data = orjson.loads(event.data) if needs_data else {}
        return cls(
            event.position,
            event.event_type,
            event.timestamp,
            event.correlation_id,
            event.aggregate_version,
            event.data if event.event_type == POSITION_TYPE else None,
            data.get("status") if event.event_type in STATUS_TYPES else None,
        )


@dataclass(frozen=True, slots=True)
class Position:
    account_id: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees_paid: Decimal
    mark_price: Decimal | None
    quote_currency: str
    last_event_version: int
    last_position: int
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Position:
        assert row.data is not None, "position rows carry their data"
        data = orjson.loads(row.data)
        mark = data.get("mark_price")
        return cls(
            data["account_id"],
            data["symbol"],
            Decimal(data["quantity"]),
            Decimal(data["average_cost"]),
            Decimal(data["realized_pnl"]),
            Decimal(data["unrealized_pnl"]),
            Decimal(data["fees_paid"]),
            None if mark is None else Decimal(mark),
            data["quote_currency"],
            row.aggregate_version,
            row.position,
            row.timestamp,
        )

    @property
    def market_value(self) -> Decimal:
        """Signed value at the mark (at cost when no mark has been seen)."""
        return self.quantity * (self.average_cost if self.mark_price is None else self.mark_price)


@dataclass(frozen=True, slots=True)
class Portfolio:
    portfolio_id: str
    currency: str
    total_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees_paid: Decimal
    open_positions: int
    last_event_version: int
    updated_at: datetime


class Correlation(NamedTuple):
    correlation_id: UUID
    flow_type: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    last_event_at: datetime
    event_count: int
    last_position: int

    def then(self, row: Row) -> Correlation:
        terminal = TERMINAL.get((row.event_type, row.status))
        # A flow's root event may be stored after events it caused (different topics): it names the flow.
        flow_type = FLOW_TYPES.get(row.event_type) if self.flow_type not in _FLOW_NAMES else None
        return Correlation(
            self.correlation_id,
            flow_type or self.flow_type,
            terminal or self.status,
            min(self.started_at, row.timestamp),
            row.timestamp if terminal and self.completed_at is None else self.completed_at,
            max(self.last_event_at, row.timestamp),
            self.event_count + 1,
            row.position,
        )

    @classmethod
    def start(cls, row: Row) -> Correlation:
        seed = cls(
            row.correlation_id, FLOW_TYPES.get(row.event_type, row.event_type), OPEN, row.timestamp, None,
            row.timestamp, 0, row.position,
        )  # fmt: skip
        return seed.then(row)


def portfolios_of(positions: Iterable[Position]) -> list[Portfolio]:
    """Pure: one portfolio per account and quote currency, summing its positions."""
    groups: dict[tuple[str, str], list[Position]] = {}
    # In key order: Decimal sums round at the context's precision, so the order must not vary.
    for position in sorted(positions, key=attrgetter("account_id", "symbol")):
        groups.setdefault((position.account_id, position.quote_currency), []).append(position)
    return [
        Portfolio(
            account_id,
            currency,
            sum((p.market_value for p in members), Decimal(0)),
            sum((p.realized_pnl for p in members), Decimal(0)),
            sum((p.unrealized_pnl for p in members), Decimal(0)),
            sum((p.fees_paid for p in members), Decimal(0)),
            sum(1 for p in members if p.quantity != 0),
            max(p.last_position for p in members),
            max(p.updated_at for p in members),
        )
        for (account_id, currency), members in sorted(groups.items())
    ]


@dataclass
class ReadModels:
    """The fold: apply rows in store order; what it holds is the state after the last row."""

    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    correlations: dict[UUID, Correlation] = field(default_factory=dict)
    last_position: int = 0

    def apply(self, row: Row) -> None:
        self.last_position = row.position
        if row.event_type in UNTRACKED_TYPES:
            return
        if row.event_type == POSITION_TYPE:
            position = Position.from_row(row)
            self.positions[(position.account_id, position.symbol)] = position
        current = self.correlations.get(row.correlation_id)
        self.correlations[row.correlation_id] = (
            Correlation.start(row) if current is None else current.then(row)
        )

    def apply_all(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.apply(row)

    def portfolios(self) -> list[Portfolio]:
        return portfolios_of(self.positions.values())


@dataclass(frozen=True)
class Table:
    """A read-model table: its columns (with PostgreSQL types, in dataclass field order) and key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    def upsert_sql(self) -> str:
        names = [name for name, _ in self.columns]
        arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(self.columns, start=1))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in self.key)
        return (
            f"INSERT INTO {self.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


_MONEY = "numeric"
POSITIONS = Table(
    "position_projections",
    (
        ("account_id", "text"), ("symbol", "text"), ("quantity", _MONEY), ("average_cost", _MONEY),
        ("realized_pnl", _MONEY), ("unrealized_pnl", _MONEY), ("fees_paid", _MONEY), ("mark_price", _MONEY),
        ("quote_currency", "text"), ("last_event_version", "bigint"), ("last_position", "bigint"),
        ("updated_at", "timestamptz"),
    ),
    ("account_id", "symbol"),
)  # fmt: skip
PORTFOLIOS = Table(
    "portfolio_projections",
    (
        ("portfolio_id", "text"), ("currency", "text"), ("total_value", _MONEY), ("realized_pnl", _MONEY),
        ("unrealized_pnl", _MONEY), ("fees_paid", _MONEY), ("open_positions", "integer"),
        ("last_event_version", "bigint"), ("updated_at", "timestamptz"),
    ),
    ("portfolio_id", "currency"),
)  # fmt: skip
CORRELATIONS = Table(
    "event_correlations",
    (
        ("correlation_id", "uuid"), ("flow_type", "text"), ("status", "text"), ("started_at", "timestamptz"),
        ("completed_at", "timestamptz"), ("last_event_at", "timestamptz"), ("event_count", "bigint"),
        ("last_position", "bigint"),
    ),
    ("correlation_id",),
)  # fmt: skip
MODELS: tuple[tuple[Table, type[Any]], ...] = (
    (POSITIONS, Position),
    (PORTFOLIOS, Portfolio),
    (CORRELATIONS, Correlation),
)


async def upsert(connection: asyncpg.Connection, table: Table, items: Sequence[Any]) -> None:
    if not items:
        return
    columns = zip(*map(attrgetter(*table.names), items), strict=True)
    await connection.execute(table.upsert_sql(), *map(list, columns))


async def _load(
    connection: asyncpg.Connection, table: Table, model: type[Any], where: str = "", *args: Any
) -> list[Any]:
    rows = await connection.fetch(
        f"SELECT {', '.join(table.names)} FROM {table.name} {where} ORDER BY {', '.join(table.key)}", *args
    )
    return [model(*row) for row in rows]


async def project(connection: asyncpg.Connection, stored: Sequence[StoredEvent]) -> None:
    """Apply newly appended events to the read models, inside the appending transaction."""
    rows = [Row.of(event) for event in stored if event.event_type not in UNTRACKED_TYPES]
    if not rows:
        return
    models = ReadModels()
    touched = list({row.correlation_id for row in rows})
    for correlation in await _load(
        connection, CORRELATIONS, Correlation, "WHERE correlation_id = ANY($1)", touched
    ):
        models.correlations[correlation.correlation_id] = correlation
    models.apply_all(rows)
    await upsert(connection, CORRELATIONS, [models.correlations[c] for c in touched])
    if not models.positions:
        return
    await upsert(connection, POSITIONS, list(models.positions.values()))
    accounts = list({account for account, _ in models.positions})
    positions = await _load(connection, POSITIONS, Position, "WHERE account_id = ANY($1)", accounts)
    await upsert(connection, PORTFOLIOS, portfolios_of(positions))


@dataclass(frozen=True)
class Snapshot:
    """Every read-model row, ordered by key: what `replay --check` and the tests compare."""

    positions: list[Position]
    portfolios: list[Portfolio]
    correlations: list[Correlation]

    @classmethod
    def of(cls, models: ReadModels) -> Snapshot:
        return cls(
            sorted(models.positions.values(), key=attrgetter(*POSITIONS.key)),
            models.portfolios(),
            sorted(models.correlations.values(), key=attrgetter(*CORRELATIONS.key)),
        )

    def differences(self, other: Snapshot) -> list[str]:
        found = []
        for name in ("positions", "portfolios", "correlations"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                extra, missing = set(mine) - set(theirs), set(theirs) - set(mine)
                found.append(f"{name}: {len(extra)} rows only here, {len(missing)} only there")
        return found


async def load(connection: asyncpg.Connection) -> Snapshot:
    positions, portfolios, correlations = [await _load(connection, table, model) for table, model in MODELS]
    return Snapshot(positions, portfolios, correlations)


async def write(connection: asyncpg.Connection, models: ReadModels) -> None:
    """Replace every read model with `models` (call inside a transaction)."""
    await connection.execute(f"TRUNCATE {', '.join(table.name for table, _ in MODELS)}")
    snapshot = Snapshot.of(models)
    await upsert(connection, POSITIONS, snapshot.positions)
    await upsert(connection, PORTFOLIOS, snapshot.portfolios)
    await upsert(connection, CORRELATIONS, snapshot.correlations)
