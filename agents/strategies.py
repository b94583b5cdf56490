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
"""

from __future__ import annotations

from datetime import datetime

from agents.settings import get_agent_settings, get_strategies_config
from agents.stage import Batch, Item, Stage, register
from schemas import OrdersDecidedThrough, PricesThrough, PriceUpdated
from strategies.runner import Roster, StrategySlot, slot_key
from topics import StateChangelogs, Topics
from trading.ids import derived_id

roster = Roster(get_strategies_config())


class Progress:
    """How far each symbol's prices were decided on in the current batch, declared once per symbol and
    batch after its last price's orders (not per price: six copies per declaration)."""

    def __init__(self, symbols: set[str], partitions: int = Topics.ORDERS_REQUESTED.partitions) -> None:
        self.symbols = symbols  # those some strategy trades: no other symbol has orders to wait for
        self.partitions = partitions
        self._last: dict[tuple[int, str], int] = {}  # (partition, symbol) -> offset of its last price
        self._through: dict[tuple[int, str], datetime] = {}

    async def prepare(self, items: list[Item], batch: Batch[StrategySlot]) -> None:
        self.plan(items)

    def plan(self, items: list[Item]) -> None:
        self._through.clear()
        self._last = {
            (item.partition, item.event.symbol): item.offset
            for item in items
            if isinstance(item.event, PriceUpdated | PricesThrough) and item.event.symbol in self.symbols
        }

    def decided(self, item: Item, price: PriceUpdated | PricesThrough) -> list[OrdersDecidedThrough]:
        """After `price`'s orders: at the symbol's last price of the batch, the declaration for each order
        stage partition; before it, nothing. A copy (redelivered) price counts: it was decided before."""
        lane = (item.partition, price.symbol)
        if lane not in self._last:
            return []
        through = self._through[lane] = max(self._through.get(lane, price.market_time), price.market_time)
        if self._last[lane] != item.offset:
            return []
        return [
            price.caused(
                OrdersDecidedThrough,
                event_id=derived_id(price.event_id, f"decided_through|{partition}"),
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
    try:
        for instance in roster.for_price(price):
            key = slot_key(instance.spec.id, price.symbol)
            stepped = instance.step(batch.get(item, key), price, item.offset)
            if stepped is None:
                continue  # a redelivery: applied, and its orders published, before
            slot, orders = stepped
            batch.publish(orders)
            batch.put(item, key, slot)
    finally:  # a price whose strategy raised is dead-lettered: decided (on nothing) all the same
        batch.publish(progress.decided(item, price))


# A worker without strategies reads no prices for them (decoding each one for nothing).
stage: Stage[StrategySlot] | None = None
if roster.instances:
    stage = register(
        Stage(
            "strategies",
            {Topics.PRICES: (PriceUpdated, PricesThrough) if progress.symbols else (PriceUpdated,)},
            _on_price,
            state=StrategySlot,
            changelog=StateChangelogs.STRATEGIES,
            dedupe=False,
            prepare=progress.prepare,
        )
    )
