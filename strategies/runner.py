"""Running configured strategies on prices: which instances a price drives, state in, orders out.

Still pure: the agent (`agents.strategies`) stores each `StrategySlot` in its changelog under
`strategy_id|symbol` and publishes the orders.

Copies are dropped without a window of event ids (a thousand strategies each keeping thousands of ids
would cost megabytes and a scan per price), in two ways, a few bytes per slot:
- A redelivered record, by offset: every price of a symbol is on one partition of `market.prices` (keyed
  by symbol), so a slot sees that symbol's prices in offset order, and "the last offset applied" says
  exactly what was applied.
- A price published again, by market time: after a crash the market data agent derives the prices of its
  uncommitted ticks again, same ids at new offsets. Each venue's prices of a symbol come in market-time
  order, so a slot keeps, per venue, the last market time applied and the ids applied at that time; an
  older price is a copy (or stale: a venue's clock going back), and is dropped too.

**A strategy's own orders, in market time.** The slot keeps the strategy's open orders (`orders`) and the
outcomes of them that arrived (`inbox`: `StrategyOrderUpdate`s, from the order topics re-keyed by symbol).
An outcome of market time *f* (an immediate fill or a rejection, which carry none: its order's market
time) is applied at the slot's first price of market time *t* >= *f* + `reaction_delay_ms`, before that
price, in market-time order; one that arrives early waits in the inbox, so how fast outcomes come does not
change when they are seen. For that to hold both ways, a price at *t* is stepped only once every outcome
of market time <= *t* - delay has arrived (`must_wait`): an immediate order (market, IOC, FOK, or any order
without the engine) is complete once its end arrived, so the slot waits for the end of every immediate
order decided at or before *t* - delay. A resting order's outcomes can come at any time: completeness
needs the paper engine's outcome watermark (`outcomes_through`, which nothing publishes yet); until it
comes, a resting order's outcome is applied at the first price at or after *f* + delay *that is stepped
after it arrived*, which is deterministic only if the delay is longer than the pipeline's lag.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderUpdateKind,
    PriceUpdated,
    StrategyOrderUpdate,
)
from schemas.primitives import OrderType, TimeInForce
from strategies.base import CancelIntent, Intent, OrderIntent, OwnOrder, Strategy
from strategies.config import StrategiesConfig, StrategySpec
from trading.ids import derived_id
from trading.order_lifecycle import ends_order


class VenueMark(BaseModel):
    """The newest market time of a venue's prices applied to a slot, and the prices applied at it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market_time: AwareDatetime
    event_ids: tuple[UUID, ...]

    def covers(self, price: PriceUpdated) -> bool:
        """Whether `price` is one applied before (or older than them)."""
        return price.market_time < self.market_time or (
            price.market_time == self.market_time and price.event_id in self.event_ids
        )

    @classmethod
    def after(cls, mark: VenueMark | None, price: PriceUpdated) -> VenueMark:
        if mark is not None and price.market_time == mark.market_time:
            return cls(market_time=mark.market_time, event_ids=(*mark.event_ids, price.event_id))
        return cls(market_time=price.market_time, event_ids=(price.event_id,))


class StrategySlot(BaseModel):
    """One strategy's state on one symbol, as kept in the table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The kind's state model in memory; its JSON after recovery from the changelog (`load_state`).
    state: Any = None
    applied_offset: int = -1  # the last offset of market.prices applied to this slot
    venue_marks: dict[str, VenueMark] = {}  # venue -> its last market time applied
    # The strategy's orders not yet ended, and the outcomes of them not yet applied (left out of the JSON
    # while empty: a slot of a strategy without orders in flight is as before).
    orders: dict[str, OwnOrder] = Field(default={}, exclude_if=operator.not_)
    inbox: tuple[StrategyOrderUpdate, ...] = Field(default=(), exclude_if=operator.not_)
    # The paper engine's outcome watermark for this symbol: every outcome of market time <= it has come.
    outcomes_through: AwareDatetime | None = Field(default=None, exclude_if=operator.not_)


def slot_key(strategy_id: str, symbol: str) -> str:
    return f"{strategy_id}|{symbol}"


_KIND_ORDER = {
    OrderUpdateKind.ACCEPTED: 0,
    OrderUpdateKind.FILLED: 1,
    OrderUpdateKind.CANCELED: 2,
    OrderUpdateKind.EXPIRED: 2,
    OrderUpdateKind.REJECTED: 2,
}


def order_update(event: Event) -> StrategyOrderUpdate | None:
    """A strategy's order event as the update its strategy hears (None: not a strategy's order, or not an
    outcome). Its id derives from the event's, so copying it twice gives the same update."""
    strategy_id = getattr(event, "strategy_id", None)
    if strategy_id is None:
        return None
    fields: dict[str, Any] = {}
    if isinstance(event, OrderExecuted):
        kind = OrderUpdateKind.FILLED
        fields = {
            "market_time": event.market_time,
            "fill_quantity": event.fill_quantity,
            "fill_price": event.fill_price,
            "cumulative_quantity": event.cumulative_quantity,
            "remaining_quantity": event.remaining_quantity,
        }
    elif isinstance(event, OrderAccepted):
        kind = OrderUpdateKind.ACCEPTED
        fields = {
            "market_time": event.accepted_at,
            "cumulative_quantity": event.quantity - event.resting_quantity,
            "remaining_quantity": event.resting_quantity,
        }
    elif isinstance(event, OrderCanceled):
        kind = OrderUpdateKind.CANCELED
        fields = {
            "market_time": event.canceled_at,
            "cumulative_quantity": event.cumulative_quantity,
            "detail": event.reason.value,
        }
    elif isinstance(event, OrderExpired):
        kind = OrderUpdateKind.EXPIRED
        fields = {"market_time": event.expire_at, "cumulative_quantity": event.cumulative_quantity}
    elif isinstance(event, OrderRejected):
        kind, fields = OrderUpdateKind.REJECTED, {"detail": event.reason.value}
    else:
        return None
    assert isinstance(event, OrderExecuted | OrderAccepted | OrderCanceled | OrderExpired | OrderRejected)
    return event.caused(
        StrategyOrderUpdate,
        event_id=derived_id(event.event_id, "strategy_update"),
        **event.order_fields(),
        kind=kind,
        source_event_id=event.event_id,
        ended=ends_order(event),
        **fields,
    )


def _applies_at(update: StrategyOrderUpdate, order: OwnOrder) -> datetime:
    """The market time an update counts from: its own, else its order's (immediate outcomes carry none)."""
    return update.market_time if update.market_time is not None else order.decided_at


def _is_copy(update: StrategyOrderUpdate, order: OwnOrder) -> bool:
    """Already applied to `order`: a fill it counts, an acceptance it shows."""
    if update.kind is OrderUpdateKind.FILLED:
        return update.cumulative_quantity <= order.filled
    return update.kind is OrderUpdateKind.ACCEPTED and order.working


@dataclass(frozen=True)
class StrategyInstance:
    """A configured strategy: its spec and the kind built with its parameters."""

    spec: StrategySpec
    strategy: Strategy[Any, Any]

    @property
    def delay(self) -> timedelta:
        return timedelta(milliseconds=self.spec.reaction_delay_ms)

    def driven_by(self, price: PriceUpdated) -> bool:
        return self.spec.venue is None or self.spec.venue == price.venue

    def learn(self, slot: StrategySlot | None, update: StrategyOrderUpdate) -> StrategySlot | None:
        """`update` into the slot's inbox, to be applied in market time; None when it changes nothing
        (not an order of this slot, an update already there or applied)."""
        slot = slot or StrategySlot()
        order = slot.orders.get(update.order_id)
        if order is None or _is_copy(update, order):
            return None
        if any(waiting.event_id == update.event_id for waiting in slot.inbox):
            return None
        return slot.model_copy(update={"inbox": (*slot.inbox, update)})

    def must_wait(self, slot: StrategySlot | None, price: PriceUpdated, offset: int) -> bool:
        """Whether an outcome the price at its market time must see may still be on its way: the end of an
        immediate order decided at or before `price`'s time less the delay, or (with the engine's outcome
        watermark) any outcome before that time. A redelivered price (at or below the slot's offset) never
        waits: it is dropped."""
        if slot is None or not slot.orders or offset <= slot.applied_offset:
            return False
        return bool(self._awaited(slot, price))

    def _awaited(self, slot: StrategySlot, price: PriceUpdated) -> list[str]:
        """The orders whose outcomes a step at `price` must wait for (all, with the engine's outcome
        watermark behind: then every open order)."""
        horizon = price.market_time - self.delay
        ended = {u.order_id for u in slot.inbox if u.ended}
        awaited = []
        for order in slot.orders.values():
            if order.decided_at > horizon or order.order_id in ended or order.given_up:
                continue
            if not order.rests:
                awaited.append(order.order_id)  # its end comes in the order stage's pass with its fills
            elif slot.outcomes_through is None or slot.outcomes_through < horizon:
                awaited.append(order.order_id)  # the engine has not made every outcome through horizon
        return awaited

    def stop_waiting(self, slot: StrategySlot, price: PriceUpdated) -> StrategySlot:
        """The slot with the orders `price` waits for marked `given_up`: no price waits for them again
        (the stage's wall-clock bound ran out: an answer was lost; their outcomes still apply if they
        come)."""
        awaited = self._awaited(slot, price)
        orders = {
            order_id: order.model_copy(update={"given_up": True}) if order_id in awaited else order
            for order_id, order in slot.orders.items()
        }
        return slot.model_copy(update={"orders": orders})

    def step(
        self, slot: StrategySlot | None, price: PriceUpdated, offset: int
    ) -> tuple[StrategySlot, list[OrderRequested | OrderCancelRequested]] | None:
        """The slot after `price` (at `offset` of its partition) and the orders; None for a redelivery.
        The outcomes due by `price`'s market time are applied first (the strategy's callbacks)."""
        slot = slot or StrategySlot()
        mark = slot.venue_marks.get(price.venue)
        if offset <= slot.applied_offset or (mark is not None and mark.covers(price)):
            return None
        state = self.strategy.load_state(slot.state)
        orders = dict(slot.orders)
        emitted = _Emitted(self, price, orders)
        state, inbox = self._apply_due(state, orders, slot.inbox, price.market_time - self.delay, emitted)
        state, more = self.strategy.on_tick(state, price, dict(orders))
        emitted.add(more)
        events = emitted.events
        marks = slot.venue_marks | {price.venue: VenueMark.after(mark, price)}
        stepped = slot.model_copy(
            update={
                "state": state,
                "applied_offset": offset,
                "venue_marks": marks,
                "orders": orders,
                "inbox": inbox,
            }
        )
        return stepped, events

    def _apply_due(
        self,
        state: Any,
        orders: dict[str, OwnOrder],
        inbox: tuple[StrategyOrderUpdate, ...],
        horizon: datetime,
        emitted: _Emitted,
    ) -> tuple[Any, tuple[StrategyOrderUpdate, ...]]:
        """Apply the updates of market time <= `horizon` in market-time order (an order's acceptance
        before its fills, fills by their cumulative quantity, its end last), through the callbacks; the
        rest stay in the inbox. What a callback asks for is among the orders the next one sees."""
        due: list[tuple[datetime, StrategyOrderUpdate]] = []
        kept: list[tuple[datetime, StrategyOrderUpdate]] = []
        for update in inbox:
            if update.order_id not in orders:
                continue  # its order ended (a copy of an update applied before): nothing to apply
            at = _applies_at(update, orders[update.order_id])
            (due if at <= horizon else kept).append((at, update))
        due.sort(
            key=lambda pair: (
                pair[0],
                pair[1].cumulative_quantity,
                _KIND_ORDER[pair[1].kind],
                str(pair[1].event_id),
            )
        )
        strategy = self.strategy
        for at, update in due:
            order = orders.get(update.order_id)
            if order is None or _is_copy(update, order):
                continue
            if update.kind is OrderUpdateKind.FILLED:
                order = order.model_copy(update={"filled": update.cumulative_quantity})
                if update.remaining_quantity == 0 or update.ended:
                    del orders[update.order_id]
                else:
                    orders[update.order_id] = order
                state, more = strategy.on_fill(state, order, update, dict(orders), at)
            elif update.kind is OrderUpdateKind.ACCEPTED:
                order = order.model_copy(update={"working": True})
                orders[update.order_id] = order
                state, more = strategy.on_accepted(state, order, update, dict(orders), at)
            else:
                del orders[update.order_id]
                state, more = strategy.on_ended(state, order, update, dict(orders), at)
            emitted.add(more)
        return state, tuple(update for _, update in kept)

    def events(
        self, price: PriceUpdated, intents: list[Intent], orders: dict[str, OwnOrder], first: int = 0
    ) -> list[OrderRequested | OrderCancelRequested]:
        """The intents as events: orders (recorded in `orders` as the strategy's own) and cancels of its
        open orders (each once: a second cancel of the same order is not sent). `first`: the number of
        the first intent among those `price` gave."""
        events: list[OrderRequested | OrderCancelRequested] = []
        for number, intent in enumerate(intents, start=first):
            # Same price, same strategy, same intent number: same ids, so a redone step is a copy.
            event_id = derived_id(price.event_id, f"strategy|{self.spec.id}|{number}")
            if isinstance(intent, CancelIntent):
                order = orders.get(intent.order_id)
                if order is None or order.cancel_requested:
                    continue  # ended already (its end is applied) or asked before
                orders[intent.order_id] = order.model_copy(update={"cancel_requested": True})
                events.append(
                    price.caused(
                        OrderCancelRequested,
                        event_id=event_id,
                        order_id=intent.order_id,
                        account_id=self.spec.account,
                        strategy_id=self.spec.id,
                        market_time=price.market_time,
                    )
                )
                continue
            request = self._request(price, intent, event_id)
            events.append(request)
            if not self.strategy.hears_orders:
                continue  # it keeps no orders: its slot is as before the callbacks existed
            orders[request.order_id] = OwnOrder(
                order_id=request.order_id,
                key=intent.key,
                side=intent.side,
                quantity=intent.quantity,
                limit_price=intent.limit_price,
                decided_at=price.market_time,
                rests=self.strategy.engine and _may_rest(request),
            )
        return events

    def _request(self, price: PriceUpdated, intent: OrderIntent, event_id: UUID) -> OrderRequested:
        limit = intent.limit_price is not None
        return price.caused(
            OrderRequested,
            event_id=event_id,
            order_id=f"{self.spec.id}-{event_id.hex[:20]}",
            account_id=self.spec.account,
            strategy_id=self.spec.id,
            symbol=price.symbol,
            side=intent.side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            time_in_force=intent.time_in_force if limit else TimeInForce.GTC,
            market_time=price.market_time,
            venue=self.spec.venue,
        )


class _Emitted:
    """The events of one step so far, and how many intents gave them (each intent's number is in its ids)."""

    def __init__(self, instance: StrategyInstance, price: PriceUpdated, orders: dict[str, OwnOrder]) -> None:
        self.instance, self.price, self.orders = instance, price, orders
        self.events: list[OrderRequested | OrderCancelRequested] = []
        self.count = 0

    def add(self, intents: list[Intent]) -> None:
        self.events += self.instance.events(self.price, intents, self.orders, self.count)
        self.count += len(intents)


def _may_rest(order: OrderRequested) -> bool:
    """A GTC limit order may rest on the engine's book; market, IOC and FOK orders end in one pass."""
    return order.order_type is OrderType.LIMIT and order.time_in_force is TimeInForce.GTC


class Roster:
    """Every configured strategy, indexed by symbol: a price reaches only the instances that trade it.
    `engine`: the paper matching engine rests GTC limit orders (ZVT_PAPER_ENGINE)."""

    def __init__(self, config: StrategiesConfig, *, engine: bool = False) -> None:
        self.instances = [StrategyInstance(spec, spec.build(engine=engine)) for spec in config.strategies]
        # The instances that hear of their own orders: only theirs are copied to strategies.order_updates.
        self.hearing = {i.spec.id: i for i in self.instances if i.strategy.hears_orders}
        self._by_symbol: dict[str, list[StrategyInstance]] = defaultdict(list)
        for instance in self.instances:
            for symbol in instance.spec.symbols:
                self._by_symbol[symbol].append(instance)

    def for_price(self, price: PriceUpdated) -> list[StrategyInstance]:
        return [instance for instance in self._by_symbol.get(price.symbol, ()) if instance.driven_by(price)]
