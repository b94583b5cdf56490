"""One order's state machine: requested -> validated | rejected -> accepted (resting) -> partially filled ->
filled | canceled | expired.

Every transition is one past-tense event. The methods that decide a transition (`accept`, `fill`,
`cancel`, ...) build that event and then apply it with `apply`, the one place that checks a transition, so
an order rebuilt from its events (`replay`) is exactly the order that made them. An illegal transition (a
fill after a cancel, anything after a terminal event, more filled than ordered) raises
`IllegalTransition`; a cancel or amend that cannot take effect is not an error but an answer, an
`order.cancel_rejected` / `order.amend_rejected` with its reason. Event ids derive from the order's event
(or the request being answered), so deciding the same thing twice gives the same event.

Pure: no clock is read; every market time is passed in. (`timestamp`, the wall-clock envelope field,
keeps its default like every other event's.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeGuard
from uuid import UUID

from schemas import (
    CancelReason,
    Event,
    ExchangeRouted,
    ModifyRejectReason,
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
    OrderStatus,
    OrderTriggered,
    OrderValidated,
    RejectReason,
)
from schemas.primitives import Liquidity, OrderType, Side, TimeInForce, TriggerSource
from trading.ids import derived_id

ZERO: Final = Decimal(0)


class OrderState(StrEnum):
    REQUESTED = "requested"
    VALIDATED = "validated"  # passed risk; routed and on its way to a venue
    REJECTED = "rejected"
    ACCEPTED = "accepted"  # on a venue's book: resting, or a stop waiting for its price
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"


TERMINAL: Final = frozenset({OrderState.REJECTED, OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED})
WORKING: Final = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})


OrderEnd = OrderRejected | OrderCanceled | OrderExpired | OrderExecuted


def ends_order(event: Event) -> TypeGuard[OrderEnd]:
    """Whether `event` is its order's terminal event: a rejection (by risk, or after validation: routing,
    the venue, the engine on arrival), a cancel or expiry (a partly filled IOC order ends with
    `order.canceled` `unfilled_remainder`), or a fill that leaves nothing working (`filled`, or the older
    venue's `canceled` status: a fill and its cancel at once). What every consumer waiting for an order's
    end (the place_order workflow, the session report, `zvt demo`, the risk state) asks."""
    if isinstance(event, OrderRejected | OrderCanceled | OrderExpired):
        return True
    return isinstance(event, OrderExecuted) and event.status is not OrderStatus.PARTIALLY_FILLED


def order_ended(events: Iterable[Event]) -> bool:
    """Whether an order's end and every fill before it are among its `events`. They come on different
    topics (orders.executed, orders.canceled, orders.rejected), so a cancel may be read before the fill
    that preceded it: the end says how much had filled (`cumulative_quantity`), and the fills read must add
    up to it."""
    seen = list(events)
    end = next((event for event in seen if ends_order(event)), None)
    if end is None:
        return False
    if isinstance(end, OrderRejected):
        return True
    filled = sum((e.fill_quantity for e in seen if isinstance(e, OrderExecuted)), ZERO)
    return filled >= end.cumulative_quantity


def outcome_of(events: Iterable[Event]) -> str | None:
    """The end of an order from its events, in words (`filled`, `canceled`, `expired`, `rejected`), or
    None while it has not ended."""
    end = next((event for event in events if ends_order(event)), None)
    if end is None:
        return None
    if isinstance(end, OrderExecuted):
        return end.status.value
    return str(end.EVENT_TYPE).removeprefix("order.")

# Which state may follow which. A state may follow itself where an event changes the order without moving
# it on (routed, triggered, amended, a further partial fill).
TRANSITIONS: Final[dict[OrderState, frozenset[OrderState]]] = {
    OrderState.REQUESTED: frozenset({OrderState.VALIDATED, OrderState.REJECTED}),
    # On arrival: refused (no liquidity, stale book, post-only would take), resting, or filled at once
    # (an IOC fill and its unfilled remainder in one order.executed ends `canceled`, as the IOC venue does).
    OrderState.VALIDATED: frozenset(
        {
            OrderState.VALIDATED,
            OrderState.REJECTED,
            OrderState.ACCEPTED,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELED,
            OrderState.EXPIRED,  # arrived after its good-till time
        }
    ),
    OrderState.ACCEPTED: frozenset(
        {
            OrderState.ACCEPTED,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELED,
            OrderState.EXPIRED,
        }
    ),
    OrderState.PARTIALLY_FILLED: frozenset(
        {OrderState.PARTIALLY_FILLED, OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED}
    ),
    **{state: frozenset() for state in TERMINAL},
}

_ALREADY: Final = {
    OrderState.FILLED: ModifyRejectReason.ALREADY_FILLED,
    OrderState.CANCELED: ModifyRejectReason.ALREADY_CANCELED,
    OrderState.EXPIRED: ModifyRejectReason.ALREADY_EXPIRED,
    OrderState.REJECTED: ModifyRejectReason.ALREADY_REJECTED,
}


class IllegalTransition(ValueError):
    """An event that this order's state does not allow: a bug in whoever produced it, never an answer."""


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What the order asks for, as its latest terms event states (an amend changes quantity and prices)."""

    order_id: str
    account_id: str
    strategy_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce
    market_time: datetime | None
    stop_price: Decimal | None
    trigger_source: TriggerSource
    post_only: bool
    reduce_only: bool
    expire_at: datetime | None

    @classmethod
    def of(
        cls, event: OrderRequested | OrderValidated | ExchangeRouted | OrderAccepted | OrderAmended
    ) -> OrderTerms:
        return cls(**event.order_terms())

    def as_fields(self) -> dict[str, Any]:
        """The terms as event fields (for an `_OrderTerms` event)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def identity(self) -> dict[str, Any]:
        """Which order: the fields every order event repeats."""
        return {
            "order_id": self.order_id,
            "account_id": self.account_id,
            "strategy_id": self.strategy_id,
            "symbol": self.symbol,
            "side": self.side,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """The order after one transition, and the one event that records it."""

    order: OrderLifecycle
    event: Event


@dataclass(frozen=True, slots=True)
class OrderLifecycle:
    """One order: its terms, its state, what has filled. Immutable: every transition returns a new one."""

    terms: OrderTerms
    state: OrderState
    correlation_id: UUID
    cause_id: UUID  # the order's event its derived events hang from (the request, then the validated/routed)
    venue: str | None = None
    filled: Decimal = ZERO
    fill_count: int = 0
    triggered: bool = False

    # --- starting points --------------------------------------------------------------------------------

    @classmethod
    def requested(cls, request: OrderRequested) -> OrderLifecycle:
        return cls(OrderTerms.of(request), OrderState.REQUESTED, request.correlation_id, request.event_id)

    @classmethod
    def validated(cls, order: OrderValidated | ExchangeRouted, venue: str | None = None) -> OrderLifecycle:
        """An order that passed risk (and routing), as a venue receives it."""
        return cls(OrderTerms.of(order), OrderState.VALIDATED, order.correlation_id, order.event_id, venue)

    @classmethod
    def replay(cls, events: Iterable[Event]) -> OrderLifecycle:
        """The order its events describe, the first being its request; raises on an illegal sequence."""
        iterator = iter(events)
        first = next(iterator, None)
        if not isinstance(first, OrderRequested):
            raise IllegalTransition(f"an order's first event is its request, got {first!r}")
        order = cls.requested(first)
        for event in iterator:
            order = order.apply(event)
        return order

    # --- reading -----------------------------------------------------------------------------------------

    @property
    def remaining(self) -> Decimal:
        return self.terms.quantity - self.filled

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def is_working(self) -> bool:
        return self.state in WORKING

    @property
    def waits_for_trigger(self) -> bool:
        return self.terms.order_type.is_stop and not self.triggered

    # --- the one place a transition is checked -----------------------------------------------------------

    def apply(self, event: Event) -> OrderLifecycle:
        """This order after `event`; raises `IllegalTransition` if its state does not allow it."""
        other = getattr(event, "order_id", self.terms.order_id)
        if other != self.terms.order_id:
            raise IllegalTransition(f"{event.event_type} of {other} applied to {self.terms.order_id}")
        match event:
            case OrderValidated():
                return replace(
                    self._to(OrderState.VALIDATED, event, only_from=OrderState.REQUESTED),
                    terms=OrderTerms.of(event),
                    cause_id=event.event_id,
                )
            case ExchangeRouted():
                return replace(
                    self._to(OrderState.VALIDATED, event, only_from=OrderState.VALIDATED),
                    cause_id=event.event_id,
                )
            case OrderRejected():
                return self._to(OrderState.REJECTED, event)
            case OrderCreated():
                return replace(self._to(self._created_state(event), event), venue=event.venue)
            case OrderAccepted():
                return replace(
                    self._to(OrderState.ACCEPTED, event, only_from=OrderState.VALIDATED),
                    terms=OrderTerms.of(event),
                    venue=event.venue,
                )
            case OrderTriggered():
                if not self.waits_for_trigger:
                    raise IllegalTransition(f"{self.terms.order_id} has no stop waiting to trigger")
                return replace(
                    self._to(OrderState.ACCEPTED, event, only_from=OrderState.ACCEPTED), triggered=True
                )
            case OrderExecuted():
                return self._filled_by(event)
            case OrderAmended():
                if event.quantity <= self.filled:
                    raise IllegalTransition(f"amended to {event.quantity} with {self.filled} filled")
                return replace(self._to(self.state, event, working=True), terms=OrderTerms.of(event))
            case OrderCanceled():
                return self._to(OrderState.CANCELED, event)
            case OrderExpired():
                return self._to(OrderState.EXPIRED, event)
            case (
                OrderCancelRequested() | OrderAmendRequested() | OrderCancelRejected() | OrderAmendRejected()
            ):
                return self  # requests and refusals leave the order as it is
        raise IllegalTransition(f"{event.event_type} is not an order lifecycle event")

    def _to(
        self,
        target: OrderState,
        event: Event,
        *,
        only_from: OrderState | None = None,
        working: bool = False,
    ) -> OrderLifecycle:
        allowed = target in TRANSITIONS[self.state]
        if only_from is not None:
            allowed = allowed and self.state is only_from
        if working:
            allowed = allowed and self.is_working
        if not allowed:
            raise IllegalTransition(f"{self.terms.order_id}: {event.event_type} in state {self.state}")
        return replace(self, state=target)

    def _created_state(self, event: OrderCreated) -> OrderState:
        # A venue took (a leg of) the order: it moves nothing on (a live venue's acknowledgement).
        if self.state not in (OrderState.VALIDATED, *WORKING):
            raise IllegalTransition(f"{self.terms.order_id}: {event.event_type} in state {self.state}")
        return self.state

    def _filled_by(self, fill: OrderExecuted) -> OrderLifecycle:
        filled = self.filled + fill.fill_quantity
        if filled > self.terms.quantity:
            raise IllegalTransition(f"{self.terms.order_id}: {filled} filled of {self.terms.quantity}")
        if self.waits_for_trigger:
            raise IllegalTransition(f"{self.terms.order_id}: filled before its stop triggered")
        target = {
            OrderStatus.FILLED: OrderState.FILLED,
            OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
            OrderStatus.CANCELED: OrderState.CANCELED,
        }[fill.status]
        if (target is OrderState.FILLED) != (filled == self.terms.quantity):
            raise IllegalTransition(f"{self.terms.order_id}: status {fill.status} with {filled} filled")
        moved = self._to(target, fill)
        return replace(moved, filled=filled, fill_count=self.fill_count + 1, venue=fill.venue)

    # --- deciding a transition: build its event, then apply it -------------------------------------------

    def _common(self, label: str, cause: Event | None = None) -> dict[str, Any]:
        """Envelope fields of the next event: the order's correlation, caused by `cause` (a request being
        answered) or the order's own event, its id derived from that cause and the venue."""
        cause_id = self.cause_id if cause is None else cause.event_id
        if self.venue is not None:  # the legs of one order on two venues make distinct events
            label = f"{label}@{self.venue}"
        return {
            "event_id": derived_id(cause_id, label),
            "correlation_id": self.correlation_id,
            "causation_id": cause_id,
        }

    def _move(self, event: Event) -> Transition:
        return Transition(self.apply(event), event)

    def reject(self, reason: RejectReason, detail: str) -> Transition:
        """Refused before it could work: by risk (from requested) or on arrival at the venue."""
        return self._move(
            OrderRejected(
                **self._common("rejected"), **self.terms.identity(), reason=reason, detail=detail[:1000]
            )
        )

    def accept(
        self, venue: str, venue_order_id: str, resting: Decimal, at: datetime, detail: str
    ) -> Transition:
        """The venue's book holds the order: `resting` is what rests once its arrival fills are made."""
        return self._move(
            OrderAccepted(
                **self._common("accepted"),
                **self.terms.as_fields(),
                venue=venue,
                venue_order_id=venue_order_id,
                resting_quantity=resting,
                accepted_at=at,
                detail=detail[:1000],
            )
        )

    def trigger(self, venue: str, price: Decimal, at: datetime) -> Transition:
        assert self.terms.stop_price is not None, "only stop orders trigger"
        return self._move(
            OrderTriggered(
                **self._common("triggered"),
                **self.terms.identity(),
                venue=venue,
                stop_price=self.terms.stop_price,
                trigger_price=price,
                trigger_source=self.terms.trigger_source,
                triggered_at=at,
            )
        )

    def fill(
        self,
        venue: str,
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_currency: str,
        liquidity: Liquidity,
        at: datetime,
    ) -> Transition:
        if not 0 < quantity <= self.remaining:
            raise IllegalTransition(f"{self.terms.order_id}: a fill of {quantity} with {self.remaining} left")
        number = self.fill_count + 1
        remaining = self.remaining - quantity
        status = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
        return self._move(
            OrderExecuted(
                **self._common(f"fill:{number}"),
                **self.terms.identity(),
                venue=venue,
                fill_id=f"{venue}-{derived_id(self.cause_id, f'fill-id:{number}').hex[:24]}",
                fill_quantity=quantity,
                fill_price=price,
                fee=fee,
                fee_currency=fee_currency,
                liquidity=liquidity,
                cumulative_quantity=self.filled + quantity,
                remaining_quantity=max(remaining, ZERO),
                status=status,
                market_time=at,
            )
        )

    def cancel(
        self, reason: CancelReason, detail: str, at: datetime, request: OrderCancelRequested | None = None
    ) -> Transition:
        """The remainder will not fill: on `request`, or for `reason` (IOC remainder, stop without a book)."""
        return self._move(
            OrderCanceled(
                **self._common("canceled", request),
                **self.terms.identity(),
                venue=self.venue,
                reason=reason,
                detail=detail[:1000],
                canceled_quantity=self.remaining,
                cumulative_quantity=self.filled,
                canceled_at=at,
            )
        )

    def expire(self) -> Transition:
        assert self.terms.expire_at is not None, "only an order with expire_at expires"
        return self._move(
            OrderExpired(
                **self._common("expired"),
                **self.terms.identity(),
                venue=self.venue,
                expired_quantity=self.remaining,
                cumulative_quantity=self.filled,
                expire_at=self.terms.expire_at,
            )
        )

    # --- answering a cancel or an amend -----------------------------------------------------------------

    def answer_cancel(self, request: OrderCancelRequested, at: datetime) -> Transition:
        """Cancel the remainder of a working order; anything else is refused with the reason. A fill that
        reached the book first has already moved the order on: the cancel then finds it filled."""
        if not self.is_working:
            return self.refuse(
                request, self._why_not_working(), f"the order is {self.state} at {at.isoformat()}"
            )
        return self.cancel(CancelReason.REQUESTED, request.detail or "canceled on request", at, request)

    def answer_amend(self, request: OrderAmendRequested, at: datetime) -> Transition:
        """The order with its new terms, or the refusal. (Whether a post-only amend would take is the
        venue's to check: it knows the book.)"""
        if not self.is_working:
            return self.refuse(
                request, self._why_not_working(), f"the order is {self.state} at {at.isoformat()}"
            )
        kind = self.terms.order_type
        if request.limit_price is not None and not kind.has_limit:
            return self.refuse(
                request, ModifyRejectReason.INVALID_AMEND, f"a {kind} order has no limit price"
            )
        if request.stop_price is not None and not self.waits_for_trigger:
            return self.refuse(request, ModifyRejectReason.INVALID_AMEND, "no stop waiting to trigger")
        quantity = request.quantity if request.quantity is not None else self.terms.quantity
        if quantity <= self.filled:
            return self.refuse(
                request,
                ModifyRejectReason.QUANTITY_NOT_ABOVE_FILLED,
                f"new quantity {quantity} is not above the {self.filled} filled",
            )
        terms = replace(
            self.terms,
            quantity=quantity,
            limit_price=request.limit_price or self.terms.limit_price,
            stop_price=request.stop_price or self.terms.stop_price,
        )
        assert self.venue is not None, "a working order is on a venue"
        return self._move(
            OrderAmended(
                **self._common("amended", request),
                **terms.as_fields(),
                venue=self.venue,
                cumulative_quantity=self.filled,
                amended_at=at,
            )
        )

    def refuse(
        self, request: OrderCancelRequested | OrderAmendRequested, reason: ModifyRejectReason, detail: str
    ) -> Transition:
        return Transition(self, refusal(request, reason, detail))

    def _why_not_working(self) -> ModifyRejectReason:
        return _ALREADY.get(self.state, ModifyRejectReason.NOT_WORKING)


def refusal(
    request: OrderCancelRequested | OrderAmendRequested, reason: ModifyRejectReason, detail: str
) -> OrderCancelRejected | OrderAmendRejected:
    """The answer to a cancel or amend that cannot take effect (an unknown order has no lifecycle to ask)."""
    kind: type[OrderCancelRejected | OrderAmendRejected]
    kind, label = (
        (OrderCancelRejected, "cancel_rejected")
        if isinstance(request, OrderCancelRequested)
        else (OrderAmendRejected, "amend_rejected")
    )
    return request.caused(
        kind,
        event_id=derived_id(request.event_id, label),
        order_id=request.order_id,
        account_id=request.account_id,
        strategy_id=request.strategy_id,
        reason=reason,
        detail=detail[:1000],
    )
