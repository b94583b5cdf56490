"""Pre-trade risk: every rule an order must pass before it may be routed, and the state they need.

`check_order` is a pure function of the request, the account's risk state, the venues' rules, the
reference prices (`trading.tick_guard.reference_price`: no single venue's outlier moves them; a symbol
without one is refused `no_market_price`) and the account's limits; it returns the validated order
(rounded to the venue's precision) or the reason it is refused. The agent persists `AccountRiskState`
and feeds it what happens to the account's orders (`learn`).

**Market time.** Every count is taken as of the order's market time *t* (`AccountRiskState.as_of`):
open orders are those decided at or before *t* and not ended before it, the order rate counts the orders
decided in (*t* - window, *t*], and an outcome that carries a market time (the paper matching engine's
fills, acceptances, amends, cancels and expiries) counts only for checks after that time, however early
it arrived: it waits in `pending` until a check passes its time. Outcomes without a market time (the
order stage's own immediate fills, a live venue's, a rejection) count at once: the immediate ones are
made in the same pass as their request, so they are in processing order = request order already. What
is still needed for a replay to decide alike at any speed is that a check at *t* happen only once every
outcome before *t* has arrived (`outcomes_needed`: the engine's outcome watermark; see
docs/order-lifecycle.md).
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas import (
    Event,
    ExchangeRouted,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderValidated,
    PaperRiskOutcome,
    RejectReason,
    RiskOutcomeKind,
)
from schemas.primitives import Side
from trading.config import RiskLimits
from trading.ids import derived_id
from trading.markets import MarketCatalog, MarketRules, round_down_to_step, round_up_to_step
from trading.tick_guard import MAX_EXPONENT, MIN_EXPONENT

ZERO = Decimal(0)
JUST_BEFORE = timedelta(microseconds=1)


def _is_none(value: object) -> bool:
    return value is None


class OpenOrder(BaseModel):
    """An accepted order not yet terminal: its remaining signed quantity counts toward exposure."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    signed_remaining: Decimal
    price: Decimal
    # The paper venue whose matching engine holds it (ZVT_PAPER_ENGINE), where its cancels and amends go;
    # left out of the state's JSON while empty, so state without the engine is byte for byte as before.
    venue: str | None = Field(default=None, exclude_if=operator.not_)
    # The order's market time: it counts toward open orders and exposure for checks at or after it (None in
    # state written before: counted always).
    opened_at: datetime | None = Field(default=None, exclude_if=_is_none)
    resting: bool = Field(default=False, exclude_if=operator.not_)  # the engine's order.accepted came


class OutcomeKind(IntEnum):
    """What an outcome does to the risk state; at equal market time and filled quantity, in this order
    (the engine accepts an order before its arrival fills, fills from a tick before an amend, ends last)."""

    ACCEPTED = 0
    FILL = 1
    AMENDED = 2
    ENDED = 3


class PendingOutcome(BaseModel):
    """An outcome of one of the account's orders that arrived before a check reached its market time."""

    model_config = ConfigDict(frozen=True)

    at: datetime  # its market time: it counts for checks after it
    cumulative: Decimal  # the order's filled quantity with it: orders an order's outcomes at equal times
    kind: OutcomeKind
    event_id: UUID
    order_id: str
    symbol: str
    signed_fill: Decimal = ZERO  # FILL: what it adds to the position
    price: Decimal | None = None  # FILL: the fill price; ACCEPTED, AMENDED: the order's limit, if any
    signed_remaining: Decimal | None = None  # what is left of the order after it (ENDED: nothing)

    def key(self) -> tuple[datetime, Decimal, int, str]:
        return self.at, self.cumulative, self.kind, str(self.event_id)


def _pending(event: Event) -> PendingOutcome | None:
    """`event` as an outcome to apply in market time, or None if it carries no market time."""
    if isinstance(event, OrderExecuted):
        at, kind = event.market_time, OutcomeKind.FILL
    elif isinstance(event, OrderAccepted):
        at, kind = event.accepted_at, OutcomeKind.ACCEPTED
    elif isinstance(event, OrderAmended):
        at, kind = event.amended_at, OutcomeKind.AMENDED
    elif isinstance(event, OrderCanceled):
        at, kind = event.canceled_at, OutcomeKind.ENDED
    elif isinstance(event, OrderExpired):
        at, kind = event.expire_at, OutcomeKind.ENDED
    else:
        return None
    if at is None:
        return None
    sign = event.side.sign
    fields: dict[str, object] = {}
    if isinstance(event, OrderExecuted):
        cumulative = event.cumulative_quantity
        fields = {
            "signed_fill": event.fill_quantity * sign,
            "price": event.fill_price,
            "signed_remaining": event.remaining_quantity * sign,
        }
    elif isinstance(event, OrderAccepted):
        cumulative = event.quantity - event.resting_quantity
        fields = {"price": event.limit_price, "signed_remaining": event.resting_quantity * sign}
    elif isinstance(event, OrderAmended):
        cumulative = event.cumulative_quantity
        remaining = (event.quantity - event.cumulative_quantity) * sign
        fields = {"price": event.limit_price, "signed_remaining": remaining}
    else:
        cumulative = event.cumulative_quantity
    return PendingOutcome(
        at=at,
        cumulative=cumulative,
        kind=kind,
        event_id=event.event_id,
        order_id=event.order_id,
        symbol=event.symbol,
        **fields,
    )


def risk_outcome_time(event: Event) -> datetime | None:
    """The market time an outcome counts from (None: counted at once where it is read)."""
    pending = _pending(event)
    return None if pending is None else pending.at


def risk_outcome(event: Event) -> PaperRiskOutcome | None:
    """An engine outcome (it carries a market time) as the paper venue stage sends it to the order stage's
    risk on `paper.outcomes`; None for an event without one (applied at once where it is read)."""
    pending = _pending(event)
    if pending is None:
        return None
    return event.caused(
        PaperRiskOutcome,
        event_id=derived_id(event.event_id, "risk_outcome"),
        account_id=event.account_id,  # type: ignore[attr-defined]
        kind=RiskOutcomeKind(pending.kind.name.lower()),
        source_event_id=event.event_id,
        **{name: getattr(pending, name) for name in _SHARED_OUTCOME_FIELDS},
    )


# What a pending outcome and its copy on paper.outcomes (`PaperRiskOutcome`) both say, under one name.
_SHARED_OUTCOME_FIELDS = (
    "at",
    "cumulative",
    "order_id",
    "symbol",
    "signed_fill",
    "price",
    "signed_remaining",
)


def _from_risk_outcome(outcome: PaperRiskOutcome) -> PendingOutcome:
    return PendingOutcome(
        kind=OutcomeKind[outcome.kind.name],
        event_id=outcome.source_event_id,
        **{name: getattr(outcome, name) for name in _SHARED_OUTCOME_FIELDS},
    )


class AccountRiskState(BaseModel):
    """What risk needs to remember per account: positions, open orders, recent order times.

    The order ids an account used are not kept here (a few thousand per account, rewritten with every
    change): the caller passes them to `check_order`."""

    model_config = ConfigDict(frozen=True)

    positions: dict[str, Decimal] = {}
    last_fill_prices: dict[str, Decimal] = {}
    open_orders: dict[str, OpenOrder] = {}
    accepted_times: tuple[datetime, ...] = ()
    # Outcomes with a market time a check has not reached yet, in market-time order (empty without the
    # engine: left out of the JSON then).
    pending: tuple[PendingOutcome, ...] = Field(default=(), exclude_if=operator.not_)

    def accept(self, validated: OrderValidated, price: Decimal, window: timedelta) -> AccountRiskState:
        """The validated order is open from its market time; the outcomes before that time are now in
        force (an account's requests come in market-time order; one out of it is judged on this state)."""
        state = self.settled(order_market_time(validated))
        signed = validated.quantity * validated.side.sign
        when = order_market_time(validated)
        # Kept in market-time order: the window's start and the rate check are binary searches.
        times = state.accepted_times
        recent = times[bisect.bisect_right(times, when - window) :]
        if recent and when < recent[-1]:  # out of market-time order (rare): insert in place
            at = bisect.bisect_right(recent, when)
            recent = (*recent[:at], when, *recent[at:])
        else:
            recent = (*recent, when)
        opened = OpenOrder(symbol=validated.symbol, signed_remaining=signed, price=price, opened_at=when)
        return state.model_copy(
            update={
                "open_orders": {**state.open_orders, validated.order_id: opened},
                "accepted_times": recent,
            }
        )

    def learn(self, event: Event) -> AccountRiskState:
        """What happened to one of the account's orders: a fill, its acceptance (it rests), an amend, a
        cancel, an expiry or a rejection. With a market time it counts for checks after that time; without
        one (immediate fills, a live venue's, rejections) at once."""
        outcome = _from_risk_outcome(event) if isinstance(event, PaperRiskOutcome) else _pending(event)
        if outcome is None:
            if isinstance(event, OrderExecuted):
                return self.apply_fill(event)
            if isinstance(event, OrderRejected | OrderCanceled | OrderExpired):
                return self.close_order(event)
            return self
        if any(p.event_id == outcome.event_id for p in self.pending):
            return self  # a copy
        keys = [p.key() for p in self.pending]
        at = bisect.bisect_right(keys, outcome.key())
        return self.model_copy(update={"pending": (*self.pending[:at], outcome, *self.pending[at:])})

    def settled(self, when: datetime) -> AccountRiskState:
        """The state with every pending outcome before `when` applied, in market-time order."""
        due = [p for p in self.pending if p.at < when]
        if not due:
            return self
        positions, prices = dict(self.positions), dict(self.last_fill_prices)
        open_orders = dict(self.open_orders)
        for outcome in due:
            order = open_orders.get(outcome.order_id)
            if outcome.kind is OutcomeKind.FILL:  # counted even if its order's end came first
                positions[outcome.symbol] = positions.get(outcome.symbol, ZERO) + outcome.signed_fill
                assert outcome.price is not None
                prices[outcome.symbol] = outcome.price
            if order is None:
                continue
            if outcome.kind is OutcomeKind.ENDED or outcome.signed_remaining == 0:
                del open_orders[outcome.order_id]
                continue
            update: dict[str, object] = {"signed_remaining": outcome.signed_remaining}
            if outcome.kind is OutcomeKind.ACCEPTED:
                update["resting"] = True
            if outcome.kind is not OutcomeKind.FILL and outcome.price is not None:
                update["price"] = outcome.price  # rests at its (amended) limit
            open_orders[outcome.order_id] = order.model_copy(update=update)
        return self.model_copy(
            update={
                "positions": positions,
                "last_fill_prices": prices,
                "open_orders": open_orders,
                "pending": tuple(p for p in self.pending if p.at >= when),
            }
        )

    def as_of(self, when: datetime) -> AccountRiskState:
        """What the account held and had open at market time `when`: outcomes before it applied, orders
        decided after it not counted. What every rule of `check_order` reads."""
        state = self.settled(when)
        open_now = {
            order_id: order
            for order_id, order in state.open_orders.items()
            if order.opened_at is None or order.opened_at <= when
        }
        times = state.accepted_times[: bisect.bisect_right(state.accepted_times, when)]
        if len(open_now) == len(state.open_orders) and len(times) == len(state.accepted_times):
            return state
        return state.model_copy(update={"open_orders": open_now, "accepted_times": times})

    def outcomes_needed(self, when: datetime) -> set[str]:
        """The symbols whose paper engine must have reported every outcome before `when` (its outcome
        watermark) before a check at `when` is decided alike at any speed: those of the orders resting on
        an engine that were decided before it."""
        return {
            order.symbol
            for order in self.open_orders.values()
            if order.venue is not None and (order.opened_at is None or order.opened_at < when)
        }

    def outcomes_missing(self, when: datetime, outcomes_through: Mapping[str, datetime]) -> set[str]:
        """The symbols of `outcomes_needed(when)` whose engines' outcome watermark (`outcomes_through`, as
        declared on paper.outcomes) has not passed every outcome before `when`: a check at `when` waits
        for them."""
        before = when - JUST_BEFORE
        return {
            symbol
            for symbol in self.outcomes_needed(when)
            if (through := outcomes_through.get(symbol)) is None or through < before
        }

    def apply_fill(self, fill: OrderExecuted) -> AccountRiskState:
        """A fill in force at once: a `partially_filled` one leaves the rest open, `filled` (or the older
        venue's `canceled`: a fill and its cancel at once) ends the order."""
        signed = fill.fill_quantity * fill.side.sign
        positions = {**self.positions, fill.symbol: self.positions.get(fill.symbol, ZERO) + signed}
        open_orders = dict(self.open_orders)
        order = open_orders.get(fill.order_id)
        if order is not None:
            if fill.status is OrderStatus.PARTIALLY_FILLED:
                open_orders[fill.order_id] = order.model_copy(
                    update={"signed_remaining": order.signed_remaining - signed}
                )
            else:
                del open_orders[fill.order_id]
        return self.model_copy(
            update={
                "positions": positions,
                "last_fill_prices": {**self.last_fill_prices, fill.symbol: fill.fill_price},
                "open_orders": open_orders,
            }
        )

    def on_venue(self, order_id: str, venue: str) -> AccountRiskState:
        """The open order rests on `venue`'s paper matching engine."""
        order = self.open_orders[order_id].model_copy(update={"venue": venue})
        return self.model_copy(update={"open_orders": {**self.open_orders, order_id: order}})

    def close_order(self, ended: OrderRejected | OrderCanceled | OrderExpired) -> AccountRiskState:
        """The order ended without filling further: it no longer counts toward exposure or open orders."""
        open_orders = {k: v for k, v in self.open_orders.items() if k != ended.order_id}
        return self.model_copy(update={"open_orders": open_orders})

    def knows(self, order_id: str) -> bool:
        """Whether an outcome of `order_id` concerns this state: it is open, or has outcomes pending."""
        return order_id in self.open_orders or any(p.order_id == order_id for p in self.pending)

    def reducible(self, symbol: str, side: Side) -> Decimal:
        """How much a reduce-only order on `side` may trade: the position it would reduce, less what the
        account's open orders on that side would already take off it (0 when there is none to reduce)."""
        position = self.positions.get(symbol, ZERO)
        if position == 0 or (position > 0) == (side is Side.BUY):
            return ZERO
        taking = sum(
            (abs(o.signed_remaining) for o in self.open_orders.values()
             if o.symbol == symbol and (o.signed_remaining > 0) == (side is Side.BUY)),
            ZERO,
        )  # fmt: skip
        return max(ZERO, abs(position) - taking)

    def gross_exposure(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Sum over symbols of |position + open orders| at the last price (last fill price as fallback)."""
        exposure = ZERO
        for symbol in {*self.positions, *(o.symbol for o in self.open_orders.values())}:
            price = prices.get(symbol) or self.last_fill_prices.get(symbol) or ZERO
            exposure += abs(self.projected(symbol)) * price
        return exposure

    def projected(self, symbol: str) -> Decimal:
        """The position in `symbol` if every open order filled completely."""
        pending = sum((o.signed_remaining for o in self.open_orders.values() if o.symbol == symbol), ZERO)
        return self.positions.get(symbol, ZERO) + pending


def order_market_time(order: OrderRequested | OrderValidated | ExchangeRouted) -> datetime:
    """When the order was decided on the market's clock: replays and live trading alike. An order placed
    by hand has no market time: it was decided when it was requested."""
    if order.market_time is not None:
        return order.market_time
    if isinstance(order, OrderRequested):
        return order.timestamp
    return order.requested_at or order.timestamp


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    detail: str


def _venue_refusal(rules: MarketRules, quantity: Decimal, price: Decimal) -> Rejection | None:
    """Why `rules`' venue would refuse an order of this rounded size at this price, or None (in this
    order; the reason's text is only made for a refusal: this runs for every venue of every order)."""
    found: tuple[RejectReason, str] | None = None
    if quantity <= 0:
        found = RejectReason.QUANTITY_BELOW_MIN, f"rounds to 0 at step {rules.amount_step}"
    elif rules.min_amount is not None and quantity < rules.min_amount:
        found = RejectReason.QUANTITY_BELOW_MIN, f"{quantity} below min amount {rules.min_amount}"
    elif rules.max_amount is not None and quantity > rules.max_amount:
        found = RejectReason.QUANTITY_ABOVE_MAX, f"{quantity} above max amount {rules.max_amount}"
    elif rules.min_price is not None and price < rules.min_price:
        found = RejectReason.PRICE_BELOW_MIN, f"{price} below min price {rules.min_price}"
    elif rules.max_price is not None and price > rules.max_price:
        found = RejectReason.PRICE_ABOVE_MAX, f"{price} above max price {rules.max_price}"
    elif rules.min_cost is not None and quantity * price < rules.min_cost:
        notional = quantity * price
        found = RejectReason.NOTIONAL_BELOW_MIN, f"notional {notional} below min cost {rules.min_cost}"
    if found is None:
        return None
    return Rejection(found[0], f"{rules.venue}: {found[1]}")


def eligible_venues(
    catalog: MarketCatalog, symbol: str, venue: str | None, quantity: Decimal, price: Decimal | None
) -> tuple[list[MarketRules], Rejection | None]:
    """Active listings of `symbol` (or of the named venue) that accept the order as rounded for them."""
    listings = [r for r in catalog.listings(symbol) if venue is None or r.venue == venue]
    if not listings:
        where = f"on {venue}" if venue else "on any venue"
        return [], Rejection(RejectReason.UNKNOWN_SYMBOL, f"{symbol} is not listed {where}")
    active = [r for r in listings if r.active]
    if not active:
        return [], Rejection(RejectReason.MARKET_INACTIVE, f"{symbol} is listed but inactive")
    if price is None:
        return active, None
    accepted, first_refusal = [], None
    for rules in active:
        refusal = _venue_refusal(rules, rules.round_quantity(quantity), price)
        if refusal is None:
            accepted.append(rules)
        elif first_refusal is None:
            first_refusal = refusal
    return accepted, None if accepted else first_refusal


def _out_of_range(request: OrderRequested) -> Rejection | None:
    """A quantity or limit price no venue trades (1e999999 passes the schema): refused before any
    arithmetic, which would overflow on it."""
    quantity, limit = request.quantity, request.limit_price
    if quantity.adjusted() > MAX_EXPONENT:
        return Rejection(RejectReason.QUANTITY_ABOVE_MAX, f"quantity {quantity:.3e} is beyond any market")
    if quantity.adjusted() < MIN_EXPONENT:
        return Rejection(RejectReason.QUANTITY_BELOW_MIN, f"quantity {quantity:.3e} is below any market")
    if limit is not None and limit.adjusted() > MAX_EXPONENT:
        return Rejection(RejectReason.PRICE_ABOVE_MAX, f"limit {limit:.3e} is beyond any market")
    if limit is not None and limit.adjusted() < MIN_EXPONENT:
        return Rejection(RejectReason.PRICE_BELOW_MIN, f"limit {limit:.3e} is below any market")
    return None


def not_executable_yet(request: OrderRequested, engine: bool = False) -> Rejection | None:
    """Instructions the schema carries but the order stage does not execute without the paper matching
    engine (its paper venue is immediate-or-cancel): refused, never executed as a plain order (a stop as a
    market order, a post-only order taking). With the engine on (`engine`), resting orders and stops are
    executed there, so stops, post-only and expiry pass (a stop price is neither rounded nor collared yet),
    and reduce-only is capped to the position here (`check_order`)."""
    if engine:
        return None
    named = [
        name
        for name, present in (
            (f"{request.order_type} orders", request.order_type.is_stop),
            ("post_only", request.post_only),
            ("reduce_only", request.reduce_only),
            ("expire_at", request.expire_at is not None),
        )
        if present
    ]
    if not named:
        return None
    return Rejection(RejectReason.UNSUPPORTED_ORDER, f"not executed yet: {', '.join(named)}")


def _reduce_only_cap(request: OrderRequested, state: AccountRiskState) -> Decimal | Rejection:
    """A reduce-only order's quantity, capped to what it may reduce as of its market time (the position
    less the account's open orders on its side); refused `reduce_only` when there is nothing to reduce."""
    reducible = state.reducible(request.symbol, request.side)
    if reducible <= 0:
        position = state.positions.get(request.symbol, ZERO)
        return Rejection(
            RejectReason.REDUCE_ONLY,
            f"reduce-only {request.side} of {request.symbol}: nothing to reduce (position {position}, "
            "less the open orders on that side)",
        )
    return min(request.quantity, reducible)


def coarsest_step(steps: list[Decimal | None]) -> Decimal | None:
    known = [step for step in steps if step is not None]
    return max(known) if known else None


def check_order(
    request: OrderRequested,
    state: AccountRiskState,
    catalog: MarketCatalog,
    prices: Mapping[str, Decimal],
    limits: RiskLimits,
    used_order_ids: Container[str] = frozenset(),
    *,
    engine: bool = False,
    account_known: bool = True,
) -> OrderValidated | Rejection:
    """Every pre-trade rule, cheapest and most fundamental first; the first failure is the reason.

    `used_order_ids`: the account's order ids already requested (accepted or refused); `engine`: the
    paper matching engine executes resting orders (post-only, expiry pass, reduce-only capped);
    `account_known`: `state` is the account's (False: a pre-check on an empty account, which leaves the
    reduce-only cap to the order stage). Every count is as of the order's market time (`as_of`)."""
    when = order_market_time(request)
    state = state.as_of(when)
    if limits.kill_switch:
        return Rejection(RejectReason.KILL_SWITCH, f"kill switch on for {request.account_id}")
    if request.order_id in used_order_ids:
        return Rejection(RejectReason.DUPLICATE_ORDER, f"order id {request.order_id} was already used")
    refusal = _out_of_range(request) or not_executable_yet(request, engine)
    if refusal is not None:
        return refusal
    asked = request.quantity
    if request.reduce_only and account_known:
        capped = _reduce_only_cap(request, state)
        if isinstance(capped, Rejection):
            return capped
        asked = capped
    last = prices.get(request.symbol)
    venues, refusal = eligible_venues(catalog, request.symbol, request.venue, asked, None)
    if refusal is not None:
        return refusal
    if last is None:
        return Rejection(
            RejectReason.NO_MARKET_PRICE,
            f"no reference price for {request.symbol}: no recent price on any venue",
        )
    buy = request.side is Side.BUY
    limit_price = None
    if request.limit_price is not None:
        limit_price = request.limit_price
        if abs(limit_price - last) > last * limits.price_collar:
            return Rejection(
                RejectReason.PRICE_COLLAR,
                f"limit {limit_price} is more than {limits.price_collar} away from last {last}",
            )
    reference = limit_price if limit_price is not None else last
    venues, refusal = eligible_venues(catalog, request.symbol, request.venue, asked, reference)
    if refusal is not None:
        return refusal
    # Rounded to the coarsest step among the accepting venues, so the order is valid on each of them.
    quantity = round_down_to_step(asked, coarsest_step([r.amount_step for r in venues]))
    if limit_price is not None:
        tick = coarsest_step([r.price_step for r in venues])
        limit_price = (round_down_to_step if buy else round_up_to_step)(limit_price, tick)
        reference = limit_price
    # Rounding can push the order under a venue's minimum: the rounded order must pass on some venue.
    refusals = [_venue_refusal(rules, quantity, reference) for rules in venues]
    if all(refusals):
        return refusals[0] or Rejection(RejectReason.QUANTITY_BELOW_MIN, f"{asked} rounds to 0")
    notional = quantity * reference
    if notional > limits.max_order_notional:
        return Rejection(
            RejectReason.MAX_ORDER_NOTIONAL, f"notional {notional} above {limits.max_order_notional}"
        )
    if len(state.open_orders) >= limits.max_open_orders:
        return Rejection(RejectReason.MAX_OPEN_ORDERS, f"{len(state.open_orders)} orders open already")
    window_start = when - timedelta(seconds=float(limits.rate_window_seconds))
    recent = len(state.accepted_times) - bisect.bisect_right(state.accepted_times, window_start)
    if recent >= limits.max_orders_per_window:
        return Rejection(
            RejectReason.ORDER_RATE,
            f"{recent} orders in the last {limits.rate_window_seconds}s (max {limits.max_orders_per_window})",
        )
    signed = quantity * request.side.sign
    position_after = abs(state.projected(request.symbol) + signed) * last
    if position_after > limits.max_position_notional:
        return Rejection(
            RejectReason.MAX_POSITION,
            f"{request.symbol} position would be {position_after} (max {limits.max_position_notional})",
        )
    exposure_prices = {**prices, request.symbol: last}
    before = abs(state.projected(request.symbol)) * last
    gross_after = state.gross_exposure(exposure_prices) - before + position_after
    if gross_after > limits.max_gross_exposure:
        return Rejection(
            RejectReason.MAX_GROSS_EXPOSURE,
            f"gross exposure would be {gross_after} (max {limits.max_gross_exposure})",
        )
    terms = request.order_terms() | {
        "quantity": quantity,
        "limit_price": limit_price if request.order_type.has_limit else None,  # a stop-limit's too
        "requested_at": request.timestamp,
        "venue": request.venue,
    }
    return request.caused(OrderValidated, event_id=derived_id(request.event_id, "validated"), **terms)
