"""Strategies agent: every configured strategy that trades a price's symbol decides on it; orders out.

Consumes market.prices in the consumer group (keyed by symbol), so a strategy's state on a symbol,
`strategy_id|symbol` in one table, lives on that symbol's partition and moves with it on a rebalance.
A strategy with a `venue` is driven by that venue's prices only; without one, by every venue's.

Per price: each strategy steps (pure, `strategies.runner`), all orders are published and acknowledged,
then the changed slots are written together (`StateTable.put_many`: one changelog round trip per price).
"""

from __future__ import annotations

from faust.streams import current_event

from agents.app import app, faust_topic, state_table
from agents.consumer import consume, publish
from agents.settings import get_strategies_config
from schemas import Event, OrderRequested, PriceUpdated
from strategies.runner import Roster, StrategySlot, slot_key
from topics import Topics

roster = Roster(get_strategies_config())
slots = state_table("strategy-slots", StrategySlot)


async def _on_price(event: Event) -> None:
    assert isinstance(event, PriceUpdated)
    instances = roster.for_price(event)
    if not instances:
        return
    record = current_event()
    assert record is not None  # consume() calls us while handling a record
    offset = record.message.offset
    orders: list[OrderRequested] = []
    changed: list[tuple[str, StrategySlot]] = []
    for instance in instances:
        key = slot_key(instance.spec.id, event.symbol)
        stepped = instance.step(slots.get(key), event, offset)
        if stepped is None:
            continue  # a redelivery: applied, and its orders published, before
        slot, new_orders = stepped
        orders.extend(new_orders)
        changed.append((key, slot))
    await publish(orders)
    await slots.put_many(changed)


@app.agent(faust_topic(Topics.PRICES), name="strategies")
async def run_strategies(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "strategies",
        {Topics.PRICES: (PriceUpdated,)},
        _on_price,
    )
