"""Strategies stage: every configured strategy that trades a price's symbol decides on it; orders out.

Consumes market.prices in the consumer group (keyed by symbol), so a strategy's state on a symbol,
`strategy_id|symbol`, lives on that symbol's partition and moves with it on a rebalance. A strategy with a
`venue` is driven by that venue's prices only; without one, by every venue's.

Per batch: each price steps every strategy trading its symbol (pure, `strategies.runner`), in offset order;
all orders are published and acknowledged, then each changed slot is written once. Copies are dropped by
the runner itself (a slot's last applied offset, and each venue's last market time applied).
"""

from __future__ import annotations

from agents.settings import get_strategies_config
from agents.stage import Batch, Item, Stage, register
from schemas import PriceUpdated
from strategies.runner import Roster, StrategySlot, slot_key
from topics import StateChangelogs, Topics

roster = Roster(get_strategies_config())


def _on_price(item: Item, batch: Batch[StrategySlot]) -> None:
    price = item.event
    assert isinstance(price, PriceUpdated)
    for instance in roster.for_price(price):
        key = slot_key(instance.spec.id, price.symbol)
        stepped = instance.step(batch.get(item, key), price, item.offset)
        if stepped is None:
            continue  # a redelivery: applied, and its orders published, before
        slot, orders = stepped
        batch.publish(orders)
        batch.put(item, key, slot)


# A worker without strategies reads no prices for them (decoding each one for nothing).
stage: Stage[StrategySlot] | None = None
if roster.instances:
    stage = register(
        Stage(
            "strategies",
            {Topics.PRICES: (PriceUpdated,)},
            _on_price,
            state=StrategySlot,
            changelog=StateChangelogs.STRATEGIES,
            dedupe=False,
        )
    )
