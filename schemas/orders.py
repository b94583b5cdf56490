"""Order lifecycle events: request -> risk decision -> routing -> creation on a venue -> fills."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.base import Event
from schemas.primitives import (
    Currency,
    Identifier,
    Liquidity,
    Money,
    NonNegativeMoney,
    NonNegativeQuantity,
    OrderType,
    Price,
    Quantity,
    Ratio,
    Side,
    Symbol,
    TimeInForce,
    Venue,
)


class _OrderFields(Event):
    """What every order event names: which order, whose, on what."""

    order_id: Identifier  # the client order id: unique per order, reused on every retry
    account_id: Identifier
    strategy_id: Identifier | None = None
    symbol: Symbol
    side: Side

    def order_fields(self) -> dict[str, Any]:
        """Which order this is: what every later event of the same order repeats."""
        return {name: getattr(self, name) for name in _ORDER_FIELDS}


class _OrderTerms(_OrderFields):
    order_type: OrderType
    quantity: Quantity
    limit_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    # When the order was decided on the market's clock (a replay's recorded time, or now when live);
    # the paper venue fills against the book as of this time plus its latency.
    market_time: AwareDatetime | None = None

    def order_terms(self) -> dict[str, Any]:
        """The order and its terms, for the next stage's event (which may override some, e.g. quantity)."""
        return {name: getattr(self, name) for name in _ORDER_TERMS}

    @model_validator(mode="after")
    def _limit_price_matches_type(self) -> Self:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required for a limit order")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("limit_price must be empty for a market order")
        return self


# Field names once, not per call (pydantic's `model_fields` is a property that builds nothing cheaply).
_ORDER_FIELDS = tuple(name for name in _OrderFields.model_fields if name not in Event.model_fields)
_ORDER_TERMS = tuple(name for name in _OrderTerms.model_fields if name not in Event.model_fields)


class OrderRequested(_OrderTerms):
    """A strategy, a workflow or a person asks for an order; nothing is checked yet."""

    EVENT_TYPE = "order.requested"

    venue: Venue | None = None  # a preferred venue; the router decides when empty


class OrderValidated(_OrderTerms):
    """The risk engine accepted the order, with quantity and price rounded to the venue's precision."""

    EVENT_TYPE = "order.validated"

    venue: Venue | None = None  # the requested venue, if any: the router routes only there
    # The request's timestamp: when an order without a market time (placed by hand) was decided. Kept
    # apart from market_time, which only a strategy or workflow deciding on market data sets.
    requested_at: AwareDatetime | None = None


class RejectReason(StrEnum):
    """Machine-readable reasons: one per risk rule, then what routing and venues can refuse."""

    KILL_SWITCH = "kill_switch"
    UNKNOWN_SYMBOL = "unknown_symbol"
    MARKET_INACTIVE = "market_inactive"
    QUANTITY_BELOW_MIN = "quantity_below_min"
    QUANTITY_ABOVE_MAX = "quantity_above_max"
    PRICE_BELOW_MIN = "price_below_min"
    PRICE_ABOVE_MAX = "price_above_max"
    NOTIONAL_BELOW_MIN = "notional_below_min"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_OPEN_ORDERS = "max_open_orders"
    ORDER_RATE = "order_rate"
    PRICE_COLLAR = "price_collar"
    NO_MARKET_PRICE = "no_market_price"
    VENUE_UNAVAILABLE = "venue_unavailable"
    DUPLICATE_ORDER = "duplicate_order"
    NO_LIQUIDITY = "no_liquidity"  # the venue's book showed nothing fillable when the order arrived
    VENUE_REJECTED = "venue_rejected"  # the venue refused it, or stayed unreachable through every retry


class OrderRejected(_OrderFields):
    """A terminal event: the order will not be sent anywhere."""

    EVENT_TYPE = "order.rejected"

    reason: RejectReason
    detail: str = Field(max_length=1000)

    @classmethod
    def for_order(
        cls, order: _OrderFields, reason: RejectReason, detail: str, *, event_id: UUID | None = None
    ) -> OrderRejected:
        """The rejection of `order` (a request, or a later stage of it): same order, caused by that event.

        Agents pass a deterministic `event_id`, so rejecting the same input twice gives the same event.
        """
        fields = {} if event_id is None else {"event_id": event_id}
        return order.caused(cls, **order.order_fields(), reason=reason, detail=detail, **fields)


class VenueScore(BaseModel):
    """How the router rated one candidate venue (higher score is better)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: Venue
    score: Decimal
    fee_rate: Ratio  # negative for a maker rebate
    expected_price: Price | None
    available_quantity: NonNegativeQuantity
    latency_ms: Decimal = Field(ge=0)
    healthy: bool


class RouteLeg(BaseModel):
    """One child order of a routed order: a large order may be split across venues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: Venue
    quantity: Quantity
    expected_price: Price | None = None


class ExchangeRouted(_OrderTerms):
    """The router chose where the order goes, and kept the score of every candidate."""

    EVENT_TYPE = "exchange.routed"

    requested_at: AwareDatetime | None = None  # as on OrderValidated
    legs: tuple[RouteLeg, ...] = Field(min_length=1)
    candidates: tuple[VenueScore, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _legs_cover_quantity(self) -> Self:
        total = sum((leg.quantity for leg in self.legs), Decimal(0))
        if total != self.quantity:
            raise ValueError(f"legs add up to {total}, order quantity is {self.quantity}")
        return self


class OrderCreated(_OrderTerms):
    """A venue accepted the order (or one leg of it)."""

    EVENT_TYPE = "order.created"

    venue: Venue
    venue_order_id: str = Field(min_length=1, max_length=128)


class OrderStatus(StrEnum):
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"  # terminal with the remainder unfilled (IOC, expiry, venue cancel)


class OrderExecuted(_OrderFields):
    """One fill of an order on a venue; `status` says whether more may follow."""

    EVENT_TYPE = "order.executed"

    venue: Venue
    fill_id: Identifier
    fill_quantity: Quantity
    fill_price: Price
    fee: NonNegativeMoney
    fee_currency: Currency
    liquidity: Liquidity
    cumulative_quantity: Quantity
    remaining_quantity: NonNegativeQuantity
    status: OrderStatus

    @model_validator(mode="after")
    def _status_matches_remaining(self) -> Self:
        if self.fill_quantity > self.cumulative_quantity:
            raise ValueError("fill_quantity cannot exceed cumulative_quantity")
        if self.status is OrderStatus.FILLED and self.remaining_quantity != 0:
            raise ValueError("a filled order has remaining_quantity 0")
        if self.status is OrderStatus.PARTIALLY_FILLED and self.remaining_quantity == 0:
            raise ValueError("a partially filled order has remaining_quantity above 0")
        return self

    @property
    def notional(self) -> Money:
        return self.fill_quantity * self.fill_price
