"""Strategies stage: every configured strategy that trades a price's symbol decides on it; orders out.

Consumes market.prices in the consumer group (keyed by symbol), so a strategy's state on a symbol,
`strategy_id|symbol`, lives on that symbol's partition and moves with it on a rebalance. A strategy with a
`venue` is driven by that venue's prices only; without one, by every venue's.

Per batch: each price steps every strategy trading its symbol (pure, `strategies.runner`), in offset order;
all orders are published and acknowledged, then each changed slot is written once. Copies are dropped by
the runner itself (a slot's last applied offset, and each venue's last market time applied).

With `ZVT_PAPER_ENGINE`, after a batch's orders of a symbol, the stage declares how far it has decided on
that symbol's prices, and on the ticks that moved none (`market.prices_through`): `orders.decided_through`,
one copy to each partition of orders.requested. Every order stage partition forwards it to the paper
matching engine, which matches a tick only once every partition has passed its time
(docs/order-lifecycle.md).

**Own orders.** What happens to a strategy's orders comes on the order topics, keyed by account; the
`strategy_updates` stage copies each outcome of a configured strategy's order (accepted, fill, cancel,
expiry, rejection) to `strategies.order_updates`, keyed by symbol like market.prices, so partition p of both
reaches the member holding the strategy's slot. The strategies stage puts each update in its slot's inbox
(`StrategyInstance.learn`); the runner applies it in market time, at the slot's first price at least the
strategy's `reaction_delay_ms` after it. A price that must see an outcome still on its way (the end of an
immediate order decided a delay before it, `must_wait`) is parked, with every later price of that slot,
until the outcome came; at most `market_settle_max_seconds` of wall clock (an order whose answer was lost
would stall the slot for ever): then it is stepped on what has come, and a warning says so.

**Halted.** A strategy an operator halted (`zvt control halt`, agents/controls.py) is not stepped on any
price until it is resumed: it sends no orders, and its state stays as it was at the halt (its indicators
skip the prices in between). What happens to its orders still working is learnt as before; a halt cancels
none of them. The halt is wall-clock operator action: a replay of the same prices with a halt at another
moment decides differently.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import BaseModel

from agents.controls import control_view
from agents.settings import get_agent_settings, get_strategies_config
from agents.stage import Batch, Item, Stage, register
from agents.waits import BoundedWaits
from schemas import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrdersDecidedThrough,
    OrderTriggered,
    PaperOutcomesThrough,
    PricesThrough,
    PriceUpdated,
    StrategyOrderUpdate,
)
from strategies.runner import Roster, StrategySlot, order_update, slot_key
from topics import KafkaTopic, StateChangelogs, Topics
from trading.ids import derived_id

log = logging.getLogger(__name__)

ENGINE = get_agent_settings().paper_engine
roster = Roster(get_strategies_config(), engine=ENGINE)

_waiting = BoundedWaits()  # (slot key, price offset) -> since when it waits


def _waits(key: str, item: Item, waiting: bool) -> bool:
    """Whether the price waits on for the slot: while an outcome it must see is on its way, at most
    `market_settle_max_seconds` of wall clock."""
    if _waiting.waits((key, item.offset), waiting) or not waiting:
        return waiting
    log.warning("strategy slot %s stops waiting at offset %d: an order's end never came", key, item.offset)
    return False


class Progress:
    """How far each symbol's prices were decided on in the current batch, declared once per symbol and
    batch after its last price's orders (not per price: six copies per declaration)."""

    def __init__(self, symbols: set[str], partitions: int = Topics.ORDERS_REQUESTED.partitions) -> None:
        self.symbols = symbols  # those some strategy trades: no other symbol has orders to wait for
        self.partitions = partitions
        self._last: dict[tuple[int, str], int] = {}  # (partition, symbol) -> offset of its last price
        self._through: dict[tuple[int, str], datetime] = {}
        # The earliest price of the batch a strategy slot parked (it waits for its order's outcome): its
        # orders are not decided yet, so the declaration stays just before it. Declaring past it would let
        # the engine match beyond orders still to come; holding the whole symbol would deadlock the slot,
        # whose outcome needs the engine to pass the price its order was decided on.
        self._held: dict[tuple[int, str], datetime] = {}

    async def prepare(self, items: list[Item], batch: Batch[StrategySlot]) -> None:
        self.plan(items)

    def plan(self, items: list[Item]) -> None:
        self._through.clear()
        self._held.clear()
        self._last = {
            (item.partition, item.event.symbol): item.offset
            for item in items
            if isinstance(item.event, PriceUpdated | PricesThrough) and item.event.symbol in self.symbols
        }

    def decided(
        self, item: Item, price: PriceUpdated | PricesThrough, parked: bool = False
    ) -> list[OrdersDecidedThrough]:
        """After `price`'s orders: at the symbol's last price of the batch, the declaration for each order
        stage partition; before it, nothing. A copy (redelivered) price counts: it was decided before. A
        price some slot `parked` is not decided: the declaration stays below it."""
        lane = (item.partition, price.symbol)
        if lane not in self._last:
            return []
        if parked:
            self._held[lane] = min(self._held.get(lane, price.market_time), price.market_time)
        else:
            self._through[lane] = max(self._through.get(lane, price.market_time), price.market_time)
        if self._last[lane] != item.offset:
            return []
        through = self._through.get(lane)
        if lane in self._held:
            below = self._held[lane] - timedelta(microseconds=1)
            through = below if through is None else min(through, below)
        if through is None:
            return []
        # The id names the time: a parked price handed back declares again, further (its slot's wait is
        # over, or the engines' outcomes need the progress up to it), and must not be dropped as a copy.
        return [
            price.caused(
                OrdersDecidedThrough,
                event_id=derived_id(price.event_id, f"decided_through|{partition}|{through.isoformat()}"),
                symbol=price.symbol,
                through=through,
                partition=partition,
            )
            for partition in range(self.partitions)
        ]


progress = Progress(
    {symbol for instance in roster.instances for symbol in instance.spec.symbols}
    if get_agent_settings().paper_engine
    else set()
)


def _on_price(item: Item, batch: Batch[StrategySlot]) -> None:
    price = item.event
    if isinstance(price, PricesThrough):  # ticks that moved no price: nothing to decide on them
        batch.publish(progress.decided(item, price))
        return
    assert isinstance(price, PriceUpdated)
    parked = False
    try:
        for instance in roster.for_price(price):
            if control_view.halted(instance.spec.id):
                continue  # halted by an operator: it decides on no price, so it sends no order, until resumed
            key = slot_key(instance.spec.id, price.symbol)
            slot = batch.get(item, key)
            if batch.is_parked(key):
                batch.park(item, key)  # behind an earlier price of this slot
                parked = True
                continue
            waiting = instance.must_wait(slot, price, item.offset)
            if _waits(key, item, waiting):
                batch.park(item, key)  # this slot's later prices wait behind it; the others go on
                parked = True
                continue
            if waiting and slot is not None:
                slot = instance.stop_waiting(slot, price)  # bounded: not deterministic, and said so
            stepped = instance.step(slot, price, item.offset)
            if stepped is None:
                continue  # a redelivery: applied, and its orders published, before
            slot, orders = stepped
            batch.publish(orders)
            batch.put(item, key, slot)
    finally:  # a price whose strategy raised is dead-lettered: decided (on nothing) all the same
        batch.publish(progress.decided(item, price, parked=parked))


def _on_update(item: Item, batch: Batch[StrategySlot]) -> None:
    update = item.event
    assert isinstance(update, StrategyOrderUpdate)
    instance = roster.hearing.get(update.strategy_id or "")
    if instance is None:
        return  # a strategy another worker's configuration runs (the relay copies only its own)
    key = slot_key(instance.spec.id, update.symbol)
    if batch.applied(item, key):
        return
    learned = instance.learn(batch.get(item, key), update)
    if learned is not None:
        batch.put(item, key, learned)


def _on_outcomes_through(item: Item, mark: PaperOutcomesThrough, batch: Batch[StrategySlot]) -> None:
    """The paper engines' outcome watermark of a symbol, into each hearing slot of it
    (`StrategySlot.outcomes_through`): a price parked for it goes on with the next batch. Kept by slots
    without open orders too: the watermark is declared when it moves, and may not move again before the
    slot's next price needs it."""
    for instance in roster.hearing.values():
        if mark.symbol not in instance.spec.symbols:
            continue
        key = slot_key(instance.spec.id, mark.symbol)
        slot = batch.get(item, key)
        if batch.applied(item, key):
            continue
        slot = slot or StrategySlot()
        if slot.outcomes_through is not None and mark.through <= slot.outcomes_through:
            continue
        batch.put(item, key, slot.model_copy(update={"outcomes_through": mark.through}))


def _on_item(item: Item, batch: Batch[StrategySlot]) -> None:
    if isinstance(item.event, PaperOutcomesThrough):
        _on_outcomes_through(item, item.event, batch)
    elif isinstance(item.event, StrategyOrderUpdate):
        _on_update(item, batch)
    else:
        _on_price(item, batch)


def made_by_engine(event: Event) -> bool:
    """Whether the paper matching engine made `event` (with `ZVT_PAPER_ENGINE`): acceptances, cancels,
    expiries and fills with a market time come only from it. The paper venue stage sends their updates
    itself, ahead of its outcome watermark; a rejection may be risk's, so the relay copies every one (a
    copy of the engine's has the same id: the slot drops it)."""
    if isinstance(event, OrderExecuted):
        return event.market_time is not None
    return isinstance(event, OrderAccepted | OrderCanceled | OrderExpired)


def _relay(item: Item, batch: Batch[BaseModel]) -> None:
    """An outcome of a configured strategy's order, as its update keyed by symbol (not the engine's: the
    paper venue stage sends those in sequence with its outcome watermark)."""
    if ENGINE and made_by_engine(item.event):
        return
    update = order_update(item.event)
    if update is not None and update.strategy_id in roster.hearing:
        batch.publish([update])


INPUTS: dict[KafkaTopic, tuple[type[Event], ...]] = {
    Topics.PRICES: (PriceUpdated,),
    Topics.STRATEGY_ORDER_UPDATES: (StrategyOrderUpdate,),
}
RELAY_INPUTS: dict[KafkaTopic, tuple[type[Event], ...]] = {
    Topics.ORDERS_EXECUTED: (OrderExecuted,),
    Topics.ORDERS_ACCEPTED: (OrderAccepted, OrderTriggered, OrderAmended),
    Topics.ORDERS_CANCELED: (OrderCanceled, OrderExpired),
    Topics.ORDERS_REJECTED: (OrderRejected,),
}

# A worker without strategies reads no prices for them (decoding each one for nothing); without a strategy
# that hears of its own orders (the example kinds without the engine), no order updates either: the stage
# is as it was before strategies heard of their orders.
stage: Stage[StrategySlot] | None = None
relay: Stage[BaseModel] | None = None
if roster.instances:
    inputs = INPUTS if roster.hearing else {Topics.PRICES: INPUTS[Topics.PRICES]}
    if roster.hearing and ENGINE:  # and the paper engines' outcome watermark
        inputs = {**inputs, Topics.STRATEGY_ORDER_UPDATES: (StrategyOrderUpdate, PaperOutcomesThrough)}
    if progress.symbols:  # the ticks that moved no price, for the order watermark
        inputs = {**inputs, Topics.PRICES: (PriceUpdated, PricesThrough)}
    stage = register(
        Stage(
            "strategies",
            inputs,
            _on_item,
            state=StrategySlot,
            changelog=StateChangelogs.STRATEGIES,
            dedupe=False,
            prepare=progress.prepare,
            ready=control_view.wait_caught_up,  # a halted strategy must not decide before the replay says so
        )
    )
if roster.hearing:
    relay = register(
        Stage(
            "strategy_updates",
            RELAY_INPUTS,
            _relay,
        )
    )
