"""Orders: place (order.requested), cancel (order.cancel_requested), list, trace."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from api import queries
from api.auth import Reader, Trader
from api.deps import Account, Connection, Limit, PublisherDep, Since
from eventstore.orders import cancel_request, load_order
from schemas import OrderRequested
from schemas.primitives import Identifier, OrderType, Price, Quantity, Side, Symbol, TimeInForce, Venue

router = APIRouter(tags=["orders"])


class PlaceOrder(BaseModel):
    """An order as a person asks for it; validated here, in full, as the pipeline's `order.requested`.
    Decimals are best sent as strings ("0.01"): a JSON number is read as written, never through a float."""

    model_config = ConfigDict(extra="forbid")

    order_id: Identifier | None = Field(
        None, description="Client order id, the idempotency key (default: new)."
    )
    account_id: Identifier
    strategy_id: Identifier | None = None
    symbol: Symbol
    side: Side
    order_type: OrderType | None = Field(None, description="Default: limit with a limit_price, else market.")
    quantity: Quantity
    limit_price: Price | None = None
    stop_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    venue: Venue | None = Field(None, description="A preferred venue; the router decides when empty.")
    post_only: bool = False
    reduce_only: bool = False
    expire_at: AwareDatetime | None = None

    def event(self, user: str) -> OrderRequested:
        """The order.requested; a rule across fields (a limit order without its price, ...) is a 422."""
        fields = self.model_dump(exclude_none=True)
        fields["order_id"] = self.order_id or f"api-{uuid.uuid4().hex[:16]}"
        fields.setdefault("order_type", OrderType.LIMIT if self.limit_price is not None else OrderType.MARKET)
        try:
            return OrderRequested.model_validate(fields | {"metadata": {"requested_by": user}})
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None


class Accepted(BaseModel):
    """What was published: Kafka has it; its outcome follows on the stream and in `GET /orders`."""

    order_id: str
    event_id: str
    event_type: str
    correlation_id: str
    topic: str
    partition: int
    offset: int


class CancelOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Identifier | None = Field(
        None, description="Needed only for an order the event store does not know (answered unknown_order)."
    )


class OrderLine(BaseModel):
    order_id: str
    account_id: str
    strategy_id: str | None
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    status: str = Field(
        description="open, filled, canceled, expired or rejected (the order flow's read model)."
    )
    filled: Decimal
    rejection: str | None = Field(
        None, description="A rejected order's reason and detail (`kill_switch: global kill switch ...`)."
    )
    requested_at: datetime
    last_event_at: datetime


OrderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


@router.post("/orders", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def place_order(order: PlaceOrder, user: Trader, publisher: PublisherDep) -> dict[str, Any]:
    """Request an order: a signed `order.requested` on the orders topic, as `zvt publish order` sends."""
    request = order.event(user.name)
    published = await publisher.publish(request)
    return published.as_json() | {"order_id": request.order_id}


@router.post("/orders/{order_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def cancel_order(
    order_id: OrderId,
    user: Trader,
    publisher: PublisherDep,
    connection: Connection,
    body: CancelOrder | None = None,
) -> dict[str, Any]:
    """Ask to cancel an order (`order.cancel_requested` in the order's chain); the answer (`order.canceled`
    or `order.cancel_rejected` with its reason) follows in the order's trace."""
    order = await load_order(connection, order_id)
    wanted = body.account_id if body else None
    if order is None and wanted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the event store has no order {order_id!r}")
    if order is not None and wanted not in (None, order.account_id):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{order_id} is an order of another account")
    account = order.account_id if order is not None else str(wanted)
    request = cancel_request(
        order_id, account, order, by=f"{user.name} (zvt api)", metadata={"requested_by": user.name}
    )
    published = await publisher.publish(request)
    return published.as_json() | {"order_id": order_id}


@router.get("/orders", response_model=list[OrderLine])
async def list_orders(
    _: Reader,
    connection: Connection,
    since: Since,
    account_id: Account = None,
    state: Annotated[
        Literal["open", "filled", "canceled", "expired", "rejected"] | None, Query(alias="status")
    ] = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    """Orders requested since `since`, newest first, with their status and filled quantity."""
    found = await queries.orders(connection, since=since, account_id=account_id, status=state, limit=limit)
    return [order | {"requested_at": order["timestamp"]} for order in found]


@router.get("/orders/{order_id}/trace")
async def trace_order(order_id: OrderId, _: Reader, connection: Connection) -> list[dict[str, Any]]:
    """The causal tree of an order (or a correlation or event id), each step with its latency: `zvt trace`."""
    roots = await queries.trace(connection, order_id)
    if not roots:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"nothing in the event store for {order_id!r}")
    return roots
