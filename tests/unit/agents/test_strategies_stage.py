"""The strategies stage with a strategy that hears of its orders (the grid with the engine): its orders
out, the relay's updates keyed by symbol, the updates into the slot, a price parked while it must wait."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel

from agents import strategies as stage_module
from agents.stage import Batch, Item, Stage
from schemas import (
    CODEC,
    Event,
    OrderRequested,
    OrderStatus,
    OrderUpdateKind,
    PaperOutcomesThrough,
    PriceUpdated,
    StrategyOrderUpdate,
)
from schemas.primitives import TimeInForce
from strategies import Roster, StrategiesConfig
from strategies.config import StrategySpec
from strategies.runner import StrategySlot
from tests.unit.strategies.support import START, price
from tests.unit.trading.builders import executed
from topics import StateChangelogs, Topics

D = Decimal


class Outbox:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, Event]] = []

    def add(self, topic: str, key: bytes | None, value: bytes, **where: Any) -> None:
        self.records.append((topic, key or b"", CODEC.decode(value)))


def _roster() -> Roster:
    spec = StrategySpec(id="grid", kind="grid", account="acct-g", symbols=("BTC/USDT",),
                        parameters={"spacing": "10", "levels": 1, "quantity": "0.1"})  # fmt: skip
    return Roster(StrategiesConfig(strategies=(spec,)), engine=True)


@pytest.fixture
def roster(monkeypatch: pytest.MonkeyPatch) -> Roster:
    found = _roster()
    monkeypatch.setattr(stage_module, "roster", found)
    return found


def _batch(handle: Any) -> tuple[Batch[StrategySlot], Outbox, Stage[StrategySlot]]:
    stage: Stage[StrategySlot] = Stage(
        "strategies", stage_module.INPUTS, handle, state=StrategySlot, changelog=StateChangelogs.STRATEGIES
    )
    outbox = Outbox()
    return Batch(stage, outbox), outbox, stage  # type: ignore[arg-type]


def _item(event: Event, offset: int) -> Item:
    topic = Topics.for_event(type(event))
    return Item(topic, 0, offset, topic.key_for(event), b"", event)


def test_orders_out_updates_relayed_by_symbol_and_learnt_into_the_slot(
    roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The relay's path; with the engine on, the paper venue stage sends the engine's fills itself (below).
    monkeypatch.setattr(stage_module, "ENGINE", False)
    batch, outbox, _ = _batch(stage_module._on_item)
    stage_module._on_item(_item(price("100", 0), 0), batch)
    orders = [event for _, _, event in outbox.records if isinstance(event, OrderRequested)]
    assert [(o.side.value, o.limit_price, o.time_in_force) for o in orders] == [
        ("buy", D(90), TimeInForce.GTC), ("sell", D(110), TimeInForce.GTC),
    ]  # fmt: skip
    buy = orders[0]
    fill = executed(quantity="0.1", price="90", cumulative="0.1", remaining="0", status=OrderStatus.FILLED,
                    order_id=buy.order_id, account_id="acct-g", strategy_id="grid",
                    market_time=START + timedelta(seconds=1))  # fmt: skip
    relayed = Outbox()
    relay: Stage[BaseModel] = Stage("strategy_updates", stage_module.RELAY_INPUTS, stage_module._relay)
    relay_batch: Batch[BaseModel] = Batch(relay, relayed)  # type: ignore[arg-type]
    stage_module._relay(_item(fill, 3), relay_batch)
    stage_module._relay(_item(executed(quantity="1", price="1", cumulative="1", remaining="0",
                                       status=OrderStatus.FILLED), 4), relay_batch)  # fmt: skip
    ((topic, key, update),) = relayed.records  # the other fill is no strategy's
    assert (topic, key) == (Topics.STRATEGY_ORDER_UPDATES.name, b"BTC/USDT")
    assert isinstance(update, StrategyOrderUpdate)
    assert (update.kind, update.order_id, update.source_event_id) == (
        OrderUpdateKind.FILLED, buy.order_id, fill.event_id,
    )  # fmt: skip
    stage_module._on_item(_item(update, 0), batch)
    slot = batch.get(_item(price("1", 0), 0), "grid|BTC/USDT")
    assert slot is not None
    assert [u.event_id for u in slot.inbox] == [update.event_id]
    (instance,) = roster.instances
    later = price("89", 2)
    assert instance.must_wait(slot, later, 1)  # resting orders, and no outcome watermark yet
    horizon = later.market_time - instance.delay
    stage_module._on_item(_item(PaperOutcomesThrough(symbol="BTC/USDT", through=horizon), 1), batch)
    slot = batch.get(_item(price("1", 0), 0), "grid|BTC/USDT")
    assert slot is not None
    assert slot.outcomes_through == horizon
    assert not instance.must_wait(slot, later, 1)
    stage_module._on_item(_item(later, 1), batch)
    after = [event for _, _, event in outbox.records[2:] if isinstance(event, OrderRequested)]
    assert [(o.side.value, o.limit_price) for o in after] == [("sell", D(100))]  # the line it left


def test_a_price_that_must_wait_is_parked_with_the_slots_later_prices(
    roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, outbox, _ = _batch(stage_module._on_item)
    (instance,) = roster.instances
    monkeypatch.setattr(type(instance), "must_wait", lambda self, slot, p, offset: p.price == D(95))
    waiting, later = _item(price("95", 1), 1), _item(price("80", 2), 2)
    for each in (_item(price("100", 0), 0), waiting, later):
        stage_module._on_item(each, batch)
    assert batch.parked == [waiting, later]
    assert isinstance(waiting.event, PriceUpdated)
    assert len(outbox.records) == 2  # only the first price's orders


def test_with_the_engine_the_relay_leaves_the_engines_outcomes_to_the_paper_venue_stage(
    roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paper venue stage sends the updates of what the engine made itself, ahead of its outcome
    watermark; the relay copies the rest (the order stage's immediate fills, every rejection)."""
    monkeypatch.setattr(stage_module, "ENGINE", True)
    relayed = Outbox()
    relay: Stage[BaseModel] = Stage("strategy_updates", stage_module.RELAY_INPUTS, stage_module._relay)
    relay_batch: Batch[BaseModel] = Batch(relay, relayed)  # type: ignore[arg-type]
    engine_fill = executed(quantity="0.1", price="90", cumulative="0.1", remaining="0",
                           status=OrderStatus.FILLED, market_time=START, order_id="grid-1",
                           account_id="acct-g", strategy_id="grid")  # fmt: skip
    pass_fill = engine_fill.model_copy(update={"market_time": None, "event_id": uuid4()})
    assert stage_module.made_by_engine(engine_fill)
    assert not stage_module.made_by_engine(pass_fill)
    stage_module._relay(_item(engine_fill, 0), relay_batch)
    stage_module._relay(_item(pass_fill, 1), relay_batch)
    assert [getattr(update, "source_event_id", None) for _, _, update in relayed.records] == [
        pass_fill.event_id
    ]


def test_a_halted_strategy_is_not_stepped_until_resumed(
    roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.controls import control_view
    from schemas import StrategyHaltSet

    def halt(halted: bool) -> None:
        command = StrategyHaltSet(strategy_id="grid", halted=halted, issued_by="alice", reason="test")
        monkeypatch.setattr(control_view, "state", control_view.state.apply(command))

    halt(True)
    batch, outbox, _ = _batch(stage_module._on_item)
    stage_module._on_item(_item(price("100", 0), 0), batch)
    assert [e for _, _, e in outbox.records if isinstance(e, OrderRequested)] == []
    halt(False)
    stage_module._on_item(_item(price("100", 1), 1), batch)
    assert len([e for _, _, e in outbox.records if isinstance(e, OrderRequested)]) == 2  # the grid's pair
