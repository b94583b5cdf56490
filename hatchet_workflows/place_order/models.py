"""The place_order workflow's inputs, step outputs and pure decisions (no Hatchet, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from hatchet_workflows.stages import StageSpan
from schemas import (
    Event,
    ExchangeRouted,
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderValidated,
)
from schemas.primitives import Identifier, OrderType, Price, Quantity, Side, Symbol, Venue
from trading.ids import derived_id
from trading.order_lifecycle import order_ended
from trading.positions import Position

# uuid5 namespace of workflow order requests: every attempt of a run's step sends the same event id.
ORDER_REQUEST_NAMESPACE = UUID("5b0f6a52-5d8e-4c1e-9f0a-6c1f1e3a9d21")
# The whole run's budget (the caller cancels a run that takes longer; see `trigger.place_order`).
RUN_TIMEOUT = timedelta(seconds=30)
# Test-only: `pause-in-execute:<path>` makes the execute_order stage, once it holds the terminal fill, touch
# <path> and hold until <path> is removed (at most the stage's 15 s), so a test can SIGKILL the worker or the
# engine inside the stage.
FAILPOINT_ENV = "ZVT_WORKFLOW_FAILPOINT"
# The task's stages, in order: the five tasks place_order had, each now recorded inside one task.
STAGES = ("validate_risk", "create_order", "route_exchange", "execute_order", "update_positions")
# How long the answer streams' positions noted for a request stay in Redis: far past any retry of its run.
POSITIONS_KEPT = 24 * 3600


class OrderOutcome(StrEnum):
    FILLED = "filled"
    # Its remainder canceled: immediate-or-cancel at the book (a last fill with status `canceled`, or
    # the engine's fills and then `order.canceled` `unfilled_remainder`), or a resting order canceled.
    CANCELED = "canceled"
    EXPIRED = "expired"  # a good-till order reached its expire_at (with the engine), filled in part or not
    REJECTED = "rejected"  # refused by the agents: risk with the account's state, routing or the venue


class PlaceOrderInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: Identifier
    symbol: Symbol
    side: Side
    quantity: Quantity
    limit_price: Price | None = None
    venue: Venue | None = None
    strategy_id: Identifier | None = None
    order_id: Identifier | None = None  # the idempotency key; by default derived from the run id
    reference_price: Price | None = None  # lets the pre-check judge a market order's notional
    correlation_id: UUID | None = None  # a parent's (a rebalance); by default the request's own id
    causation_id: UUID | None = None
    position: Position = Position()  # held before this order; update_positions applies the fills to it
    # When the order is decided on the market's clock (a replay's time): the paper venue fills it against
    # the book as of then. By default the request's wall-clock timestamp, as for live trading.
    market_time: datetime | None = None


class RiskChecked(BaseModel):
    request: OrderRequested
    prechecked: OrderValidated
    since: dict[str, str]  # answer stream -> newest entry id before the request was sent


class OrderSent(BaseModel):
    request_id: UUID
    entry_id: str | None  # None: the bus already held this request (a retried step)


class Routed(BaseModel):
    routed: ExchangeRouted | None = None
    rejection: OrderRejected | None = None


class Executed(BaseModel):
    fills: list[OrderExecuted] = []
    rejection: OrderRejected | None = None
    ended: OrderCanceled | OrderExpired | None = None  # the order's end when it is not a fill or rejection


class PlaceOrderResult(BaseModel):
    order_id: Identifier
    correlation_id: UUID
    outcome: OrderOutcome
    filled_quantity: Decimal
    average_price: Decimal | None
    fees: Decimal
    fill_ids: list[str]
    reason: str | None = None
    position: Position
    mark_price: Decimal | None
    unrealized_pnl: Decimal


class PlacedOrder(BaseModel):
    """The task's output: the result, what each stage produced (the per-stage record five tasks' outputs
    used to be) and each stage's span in the attempt that completed."""

    result: PlaceOrderResult
    checked: RiskChecked
    sent: OrderSent
    routed: Routed
    executed: Executed
    stages: list[StageSpan]


def positions_key(prefix: str, request: OrderRequested) -> str:
    """The Redis key under which the answer streams' positions are noted for this request (once)."""
    return f"{prefix}zvt.place_order.positions:{request.event_id}"


def build_request(order: PlaceOrderInput, run_id: str) -> OrderRequested:
    """The run's request. Its id follows from the run as well as the order id: retries of the run's steps
    send one event (the bus drops the copies), while another run reusing the order id sends a new event,
    which the order stage refuses as a duplicate order id, a recorded answer rather than a silent drop."""
    order_id = order.order_id or f"wf-{run_id}"
    event_id = derived_id(ORDER_REQUEST_NAMESPACE, f"{order.account_id}:{order_id}:{run_id}")
    correlation = {"correlation_id": order.correlation_id} if order.correlation_id else {}
    return OrderRequested(
        event_id=event_id,
        **correlation,
        causation_id=order.causation_id,
        order_id=order_id,
        account_id=order.account_id,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        order_type=OrderType.LIMIT if order.limit_price is not None else OrderType.MARKET,
        quantity=order.quantity,
        limit_price=order.limit_price,
        venue=order.venue,
        market_time=order.market_time,
        metadata={"workflow_run_id": run_id},
    )


def of_order(request: OrderRequested) -> Callable[[dict[str, Any]], bool]:
    """Matches the stream entries (parsed JSON) of this request's order and correlation."""
    order_id, correlation_id = request.order_id, str(request.correlation_id)
    return lambda body: body.get("order_id") == order_id and body.get("correlation_id") == correlation_id


def is_terminal(events: Sequence[Event]) -> bool:
    """The order's end and every fill before it have been read (in whatever order the topics gave them)."""
    return order_ended(events)


def executed(events: list[Event]) -> Executed:
    """The order's fills and its end as read from the answer stream."""
    rejection = next((e for e in events if isinstance(e, OrderRejected)), None)
    ended = next((e for e in events if isinstance(e, OrderCanceled | OrderExpired)), None)
    fills = [e for e in events if isinstance(e, OrderExecuted)]
    return Executed(fills=fills, rejection=rejection, ended=ended)


def settle(order: PlaceOrderInput, request: OrderRequested, executed: Executed) -> PlaceOrderResult:
    """Pure: the order's outcome and the position after its fills (unrealized PnL at the last fill)."""
    position = order.position
    for fill in executed.fills:
        position = position.apply_fill(fill.side, fill.fill_quantity, fill.fill_price, fill.fee)
    filled = sum((fill.fill_quantity for fill in executed.fills), Decimal(0))
    notional = sum((fill.notional for fill in executed.fills), Decimal(0))
    mark = executed.fills[-1].fill_price if executed.fills else None
    if executed.rejection is not None:
        outcome = OrderOutcome.REJECTED
    elif isinstance(executed.ended, OrderExpired):
        outcome = OrderOutcome.EXPIRED
    elif executed.ended is None and executed.fills[-1].status is OrderStatus.FILLED:
        outcome = OrderOutcome.FILLED
    else:
        outcome = OrderOutcome.CANCELED
    return PlaceOrderResult(
        order_id=request.order_id,
        correlation_id=request.correlation_id,
        outcome=outcome,
        filled_quantity=filled,
        average_price=notional / filled if filled else None,
        fees=sum((fill.fee for fill in executed.fills), Decimal(0)),
        fill_ids=[fill.fill_id for fill in executed.fills],
        reason=(
            f"{executed.rejection.reason.value}: {executed.rejection.detail}" if executed.rejection else None
        ),
        position=position,
        mark_price=mark,
        unrealized_pnl=position.unrealized_pnl(mark),
    )
