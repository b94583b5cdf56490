"""Order lifecycle events: request -> risk decision -> routing -> creation on a venue -> fills, and the
resting lifecycle (accepted, triggered, amended, canceled, expired) with the cancel and amend requests and
their rejections. The state machine that orders them is `trading.order_lifecycle`."""

from __future__ import annotations

import operator
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
    SignedQuantity,
    Symbol,
    TimeInForce,
    TriggerSource,
    Venue,
)


def _omitted_at_default(default: Any) -> Any:
    """A field added after version 1: left out of the JSON while it holds its default, so an order that uses
    none of the newer instructions encodes byte for byte as before, and a reader of the older schema (which
    forbids unknown fields) still reads it. No version bump: every version-1 event is valid as it is.

    The test is a C callable (`not` for the falsy defaults None and False, the default's own `__eq__`
    otherwise): a Python lambda per field doubled the cost of encoding an order."""
    is_default = operator.not_ if not default else default.__eq__
    return Field(default=default, exclude_if=is_default)


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
    # Stop orders: the price whose trade (or quote, `trigger_source`) turns the order into a market or
    # limit order: at or above it for a buy, at or below it for a sell.
    stop_price: Price | None = _omitted_at_default(None)
    trigger_source: TriggerSource = _omitted_at_default(TriggerSource.TRADE)
    post_only: bool = _omitted_at_default(False)  # may only rest: refused if it would take on arrival
    reduce_only: bool = _omitted_at_default(False)  # may only bring the position closer to zero
    # Good till this market time (client-side expiry): what is unfilled then ends `order.expired`.
    expire_at: AwareDatetime | None = _omitted_at_default(None)

    def order_terms(self) -> dict[str, Any]:
        """The order and its terms, for the next stage's event (which may override some, e.g. quantity)."""
        return {name: getattr(self, name) for name in _ORDER_TERMS}

    @model_validator(mode="after")
    def _instructions_match_type(self) -> Self:
        kind, name = self.order_type, self.order_type.replace("_", " ")
        if kind.has_limit and self.limit_price is None:
            raise ValueError(f"limit_price is required for a {name} order")
        if not kind.has_limit and self.limit_price is not None:
            raise ValueError(f"limit_price must be empty for a {name} order")
        if kind.is_stop and self.stop_price is None:
            raise ValueError(f"stop_price is required for a {name} order")
        if not kind.is_stop and self.stop_price is not None:
            raise ValueError(f"stop_price must be empty for a {name} order")
        if not kind.is_stop and self.trigger_source is not TriggerSource.TRADE:
            raise ValueError("trigger_source is only for stop orders")
        if self.post_only and (kind is not OrderType.LIMIT or self.time_in_force is not TimeInForce.GTC):
            raise ValueError("post_only is for GTC limit orders (an order that may only rest)")
        if self.expire_at is not None and (
            kind is OrderType.MARKET or self.time_in_force is not TimeInForce.GTC
        ):
            raise ValueError("expire_at is for GTC limit and stop orders (the others never rest)")
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
    STALE_BOOK = "stale_book"  # the venue's book was older than the configured age: no book at all
    POST_ONLY_WOULD_TAKE = "post_only_would_take"  # a post-only order crossed the book on arrival
    REDUCE_ONLY = "reduce_only"  # a reduce-only order with no position (left) to reduce
    # An order type or instruction the pipeline does not execute without the paper matching engine (stops,
    # post-only, reduce-only, expiry): refused rather than executed as something else.
    UNSUPPORTED_ORDER = "unsupported_order"


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
    # When the fill happened on the market's clock (the paper engine's tick or arrival time), for audits.
    market_time: AwareDatetime | None = _omitted_at_default(None)

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


# --- the resting lifecycle ----------------------------------------------------------------------------


class OrderAccepted(_OrderTerms):
    """A venue's book holds the order: it rests (a limit order that did not fill on arrival, or the
    remainder of one that filled in part) or waits for its stop price."""

    EVENT_TYPE = "order.accepted"

    venue: Venue
    venue_order_id: str = Field(min_length=1, max_length=128)
    resting_quantity: Quantity
    accepted_at: AwareDatetime  # market time the order reached the book
    detail: str = Field(default="", max_length=1000)


class OrderTriggered(_OrderFields):
    """A stop order's stop price traded (or was quoted): it is now a market or limit order."""

    EVENT_TYPE = "order.triggered"

    venue: Venue
    stop_price: Price
    trigger_price: Price  # the trade's price or the quote's side that reached the stop
    trigger_source: TriggerSource
    triggered_at: AwareDatetime


class CancelReason(StrEnum):
    """Why an order ended with a remainder unfilled."""

    REQUESTED = "requested"  # an order.cancel_requested took effect
    UNFILLED_REMAINDER = "unfilled_remainder"  # IOC or market: what the book did not give on arrival
    STALE_BOOK = "stale_book"  # a triggered stop found no book younger than the configured age
    NO_LIQUIDITY = "no_liquidity"  # a triggered stop found nothing to take
    VENUE = "venue"  # the venue canceled it


class OrderCanceled(_OrderFields):
    """A terminal event: the order's remainder will not fill (it may have filled in part before)."""

    EVENT_TYPE = "order.canceled"

    venue: Venue | None = None
    reason: CancelReason
    detail: str = Field(default="", max_length=1000)
    canceled_quantity: Quantity
    cumulative_quantity: NonNegativeQuantity
    canceled_at: AwareDatetime | None = None  # market time it took effect


class OrderExpired(_OrderFields):
    """A terminal event: the order reached its good-till market time with a remainder unfilled."""

    EVENT_TYPE = "order.expired"

    venue: Venue | None = None
    expired_quantity: Quantity
    cumulative_quantity: NonNegativeQuantity
    expire_at: AwareDatetime


class OrderAmended(_OrderTerms):
    """An order.amend_requested took effect: the order's terms from now on (quantity is the new total)."""

    EVENT_TYPE = "order.amended"

    venue: Venue
    cumulative_quantity: NonNegativeQuantity
    amended_at: AwareDatetime


# --- asking to cancel or amend, and being refused -----------------------------------------------------


class _OrderReference(Event):
    """An order named by id alone: a cancel or amend may name an order this platform does not know."""

    order_id: Identifier
    account_id: Identifier
    strategy_id: Identifier | None = None


class OrderCancelRequested(_OrderReference):
    """A strategy, a workflow or a person asks to cancel an order; answered by order.canceled, or by
    order.cancel_rejected with the reason (never dropped)."""

    EVENT_TYPE = "order.cancel_requested"

    # When the cancel was decided on the market's clock: it reaches the book this much plus the venue's
    # latency later, so a cancel racing a fill is decided by market time alone.
    market_time: AwareDatetime | None = None
    detail: str = Field(default="", max_length=1000)


class OrderAmendRequested(_OrderReference):
    """Asks to change a working order's total quantity, limit price or stop price (at least one)."""

    EVENT_TYPE = "order.amend_requested"

    quantity: Quantity | None = None  # the new total, filled part included
    limit_price: Price | None = None
    stop_price: Price | None = None
    market_time: AwareDatetime | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.quantity is None and self.limit_price is None and self.stop_price is None:
            raise ValueError("an amend names a new quantity, limit_price or stop_price")
        return self


class ModifyRejectReason(StrEnum):
    """Why a cancel or an amend was refused."""

    UNKNOWN_ORDER = "unknown_order"
    ALREADY_FILLED = "already_filled"  # includes a fill that won the race against this request
    ALREADY_CANCELED = "already_canceled"
    ALREADY_EXPIRED = "already_expired"
    ALREADY_REJECTED = "already_rejected"
    NOT_WORKING = "not_working"  # requested or validated, not yet on a venue's book
    QUANTITY_NOT_ABOVE_FILLED = "quantity_not_above_filled"
    INVALID_AMEND = "invalid_amend"  # e.g. a limit price for a market order
    POST_ONLY_WOULD_TAKE = "post_only_would_take"


class OrderCancelRejected(_OrderReference):
    """The answer to a cancel that could not take effect."""

    EVENT_TYPE = "order.cancel_rejected"

    reason: ModifyRejectReason
    detail: str = Field(max_length=1000)


class OrderAmendRejected(_OrderReference):
    """The answer to an amend that could not take effect; the order goes on with its terms unchanged."""

    EVENT_TYPE = "order.amend_rejected"

    reason: ModifyRejectReason
    detail: str = Field(max_length=1000)


# --- commands to the paper venue stage (keyed by symbol, like the ticks they are matched with) ----------


class SubmitPaperOrder(ExchangeRouted):
    """The order stage hands a routed order with legs on paper venues to the paper venue stage of its
    symbol: the engine there holds the liquidity every account's orders share. Its own type (not the
    `exchange.routed` it copies) because every event type lives on one topic, keyed one way."""

    EVENT_TYPE = "paper.submit_order"


class CancelPaperOrder(OrderCancelRequested):
    """A cancel request forwarded by the order stage, which knows the order's symbol and venue (the
    request names the order by id alone); answered by the engine like the request itself."""

    EVENT_TYPE = "paper.cancel_order"

    symbol: Symbol
    venue: Venue


class AmendPaperOrder(OrderAmendRequested):
    """An amend request forwarded by the order stage to the paper venue of its order."""

    EVENT_TYPE = "paper.amend_order"

    symbol: Symbol
    venue: Venue


class PaperOrdersThrough(Event):
    """The order watermark: `source` (one partition of the order stage) will send no more commands for
    `symbol` decided at or before `through` (market time). The paper venue stage matches a tick only once
    every source has passed its time, so a slow order flow and a fast one give the same fills."""

    EVENT_TYPE = "paper.orders_through"

    symbol: Symbol
    source: Identifier
    through: AwareDatetime


class PaperOutcomesThrough(Event):
    """The outcome watermark: the paper venue stage has made and published every outcome (acceptance,
    fill, cancel, expiry, rejection) of `symbol`'s paper engines, on every paper venue, of market time at
    or before `through`. Sent on strategies.order_updates after the strategies' updates it covers (same
    partition, in sequence), so a strategy deciding at t once it is past t - its reaction delay has heard
    every outcome it must, at any replay speed. Only with `ZVT_PAPER_ENGINE` (docs/order-lifecycle.md)."""

    EVENT_TYPE = "paper.outcomes_through"

    symbol: Symbol
    through: AwareDatetime


class RiskOutcomeKind(StrEnum):
    """What an engine outcome does to an account's risk state (trading.risk applies them in this order at
    equal times)."""

    ACCEPTED = "accepted"
    FILL = "fill"
    AMENDED = "amended"
    ENDED = "ended"  # canceled or expired


class PaperRiskOutcome(Event):
    """One outcome of the paper matching engine (an order's acceptance, fill, amend, cancel or expiry) as
    the order stage's risk counts it, keyed by account on `paper.outcomes`, ahead of the outcome watermark
    that covers it there (`PaperRiskOutcomesThrough`): a risk check at t then has every outcome before t,
    at any replay speed. `source_event_id`: the engine's event on the order topics."""

    EVENT_TYPE = "paper.risk_outcome"

    account_id: Identifier
    order_id: Identifier
    symbol: Symbol
    kind: RiskOutcomeKind
    at: AwareDatetime  # its market time: it counts for checks after it
    cumulative: NonNegativeQuantity  # the order's filled quantity with it
    signed_fill: SignedQuantity = Decimal(0)  # a fill: what it adds to the position
    price: Price | None = None  # a fill's price; an acceptance's or amend's limit
    signed_remaining: SignedQuantity | None = None  # what is left of the order after it
    source_event_id: UUID


class PaperRiskOutcomesThrough(Event):
    """The outcome watermark for the order stage: every `PaperRiskOutcome` of `symbol` of market time at
    or before `through` is on `partition` of paper.outcomes before this copy (one copy per partition)."""

    EVENT_TYPE = "paper.risk_outcomes_through"

    symbol: Symbol
    through: AwareDatetime
    partition: int = Field(ge=0)


class OrdersDecidedThrough(Event):
    """The strategies stage has published every order it decided on the prices of `symbol` at or before
    `through` (market time). Sent once per batch to each partition of orders.requested (`partition`),
    after that batch's orders, so each order stage partition reads it in sequence with the orders it
    covers and forwards it to the paper venue stage as its `paper.orders_through`: idle partitions
    progress too. Only with `ZVT_PAPER_ENGINE` (docs/order-lifecycle.md)."""

    EVENT_TYPE = "orders.decided_through"

    symbol: Symbol
    through: AwareDatetime
    partition: int = Field(ge=0)  # the orders.requested partition this copy is for


# --- what a strategy hears of its own orders ----------------------------------------------------------


class OrderUpdateKind(StrEnum):
    ACCEPTED = "accepted"  # it rests on the book (or waits for its stop)
    FILLED = "filled"  # a fill: `fill_quantity` at `fill_price`; `remaining_quantity` says if more may come
    CANCELED = "canceled"  # ended with a remainder: on request, an IOC remainder
    EXPIRED = "expired"  # ended at its expire_at
    REJECTED = "rejected"  # refused (risk, routing, the venue or the engine on arrival)


class StrategyOrderUpdate(_OrderFields):
    """What happened to a strategy's order, copied from the order's event (`source_event_id`) and keyed
    by symbol: the strategies stage keeps each strategy's state per symbol on market.prices' partitions,
    and the order's events are keyed by account. `ended`: nothing more will come of the order."""

    EVENT_TYPE = "strategy.order_update"

    kind: OrderUpdateKind
    source_event_id: UUID
    ended: bool
    # When it happened on the market's clock (the engine's; for an immediate fill or a rejection, which
    # carry none, None: the strategy then takes its order's own market time).
    market_time: AwareDatetime | None = None
    fill_quantity: NonNegativeQuantity = Decimal(0)
    fill_price: Price | None = None
    cumulative_quantity: NonNegativeQuantity = Decimal(0)
    remaining_quantity: NonNegativeQuantity = Decimal(0)
    detail: str = Field(default="", max_length=1000)
