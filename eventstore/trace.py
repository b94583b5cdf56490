"""`zvt trace`: the causal chain of one order or workflow run, as a tree with each step's latency.

Events are linked by `causation_id`; an event whose cause is not in the chain is a root. Siblings are
ordered by time, then store position. The latency of a step is its timestamp minus its cause's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import asyncpg
from rich.tree import Tree

from eventstore.store import StoredEvent, read_correlations
from schemas import (
    AccountLimitsSet,
    ControlCommand,
    Event,
    ExchangeRouted,
    KillSwitchSet,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderCreated,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderTriggered,
    OrderValidated,
    PositionUpdated,
    StrategyHaltSet,
)


@dataclass
class TraceNode:
    stored: StoredEvent
    event: Event
    latency: timedelta | None  # None for a root
    children: list[TraceNode] = field(default_factory=list)


def build(events: Sequence[StoredEvent]) -> list[TraceNode]:
    """Pure: the causal forest of `events` (usually one tree: the root request)."""
    ordered = sorted(events, key=lambda e: (e.timestamp, e.position))
    by_id = {e.event_id: e for e in ordered}
    nodes: dict[UUID, TraceNode] = {}
    roots: list[TraceNode] = []
    for stored in ordered:
        cause = by_id.get(stored.causation_id) if stored.causation_id else None
        latency = None if cause is None else stored.timestamp - cause.timestamp
        nodes[stored.event_id] = TraceNode(stored, stored.event(), latency)
    for stored in ordered:
        node = nodes[stored.event_id]
        parent = nodes.get(stored.causation_id) if stored.causation_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def describe(event: Event) -> str:
    """One line of what happened, in the trader's words."""
    match event:
        case OrderRequested() | OrderValidated():
            price = f" @ {event.limit_price}" if event.limit_price is not None else ""
            return f"{event.order_id} {event.side} {event.quantity} {event.symbol} {event.order_type}{price}"
        case OrderRejected():
            return f"{event.order_id} rejected: {event.reason} ({event.detail})"
        case ExchangeRouted():
            return f"{event.order_id} -> " + ", ".join(f"{leg.venue} {leg.quantity}" for leg in event.legs)
        case OrderCreated():
            return f"{event.order_id} on {event.venue} as {event.venue_order_id}"
        case OrderExecuted():
            return (
                f"{event.order_id} fill {event.fill_id} {event.fill_quantity} @ {event.fill_price} "
                f"({event.status}, {event.remaining_quantity} left)"
            )
        case OrderAccepted():
            return f"{event.order_id} resting on {event.venue}: {event.resting_quantity} ({event.detail})"
        case OrderTriggered():
            source = f"{event.trigger_source} {event.trigger_price}"
            return f"{event.order_id} stop {event.stop_price} triggered by {source}"
        case OrderAmended():
            price = f" @ {event.limit_price}" if event.limit_price is not None else ""
            return f"{event.order_id} amended to {event.quantity}{price}"
        case OrderCanceled():
            return f"{event.order_id} canceled {event.canceled_quantity}: {event.reason} ({event.detail})"
        case OrderExpired():
            return f"{event.order_id} expired {event.expired_quantity} at {event.expire_at.isoformat()}"
        case OrderCancelRequested() | OrderAmendRequested():
            return f"{event.order_id} {event.event_type.removeprefix('order.')}"
        case OrderCancelRejected() | OrderAmendRejected():
            what = event.event_type.removeprefix("order.")
            return f"{event.order_id} {what}: {event.reason} ({event.detail})"
        case PositionUpdated():
            return (
                f"{event.account_id} {event.symbol} quantity {event.quantity} avg {event.average_cost} "
                f"realized {event.realized_pnl}"
            )
        case ControlCommand():
            return f"{event.scope} {_control_change(event)} by {event.issued_by}: {event.reason}"
    return ""


def _control_change(command: ControlCommand) -> str:
    if isinstance(command, KillSwitchSet):
        return "kill switch " + ("ON" if command.engaged else "off")
    if isinstance(command, StrategyHaltSet):
        return "halted" if command.halted else "resumed"
    assert isinstance(command, AccountLimitsSet)
    changes = [f"{name}={value}" for name, value in command.limits.items()]
    return "limits " + " ".join(changes + [f"{name} reset" for name in command.reset])


def _label(node: TraceNode) -> str:
    latency = "" if node.latency is None else f" [+{node.latency.total_seconds() * 1000:.1f} ms]"
    stamp = node.stored.timestamp.isoformat(timespec="milliseconds")
    return f"{stamp} {node.stored.event_type}{latency} {describe(node.event)}".rstrip()


def render(roots: Sequence[TraceNode], title: str) -> Tree:
    tree = Tree(title)
    add_nodes(tree, roots)
    return tree


def add_nodes(branch: Tree, nodes: Sequence[TraceNode]) -> None:
    """`nodes` and their descendants under `branch` (a workflow run's trace puts them beside its steps)."""
    for node in nodes:
        add_nodes(branch.add(_label(node)), node.children)


async def find(connection: asyncpg.Connection, reference: str) -> list[StoredEvent]:
    """The events of a correlation id, of the correlation of an event id, or of every flow of an order id."""
    try:
        wanted = UUID(reference)
    except ValueError:
        correlations = await connection.fetch(
            "SELECT DISTINCT correlation_id FROM event_store WHERE aggregate_id = $1", reference
        )
    else:
        correlations = await connection.fetch(
            """SELECT $1::uuid WHERE EXISTS (SELECT 1 FROM event_store WHERE correlation_id = $1)
               UNION SELECT correlation_id FROM event_store WHERE event_id = $1""",
            wanted,
        )
    return await read_correlations(connection, [row[0] for row in correlations])
