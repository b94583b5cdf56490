"""The strategies stage's progress (`ZVT_PAPER_ENGINE`): once per symbol and batch, after the orders it
decided, a copy of `orders.decided_through` to each partition of orders.requested."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents import strategies
from agents.stage import Batch, Item, Stage
from schemas import CODEC, OrderRequested, OrdersDecidedThrough
from strategies import Roster, StrategiesConfig, StrategySlot
from strategies.config import StrategySpec
from tests.unit.agents.test_stage import RecordingOutbox
from tests.unit.strategies.support import START, price
from topics import StateChangelogs, Topics

GRID = {"spacing": "10", "levels": 2, "quantity": "0.1"}


def _items(*prices: tuple[str, int, str]) -> list[Item]:
    return [
        Item(Topics.PRICES, 0, offset, symbol.encode(), b"", price(value, second, symbol=symbol))
        for offset, (value, second, symbol) in enumerate(prices)
    ]


def test_progress_is_declared_once_per_symbol_per_batch_to_every_partition_after_its_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = StrategySpec(id="g", kind="grid", account="acct-g", symbols=("BTC/USDT",), parameters=GRID)
    monkeypatch.setattr(strategies, "roster", Roster(StrategiesConfig(strategies=(spec,))))
    monkeypatch.setattr(strategies, "progress", strategies.Progress({"BTC/USDT"}))
    stage = Stage(
        "strategies",
        {Topics.PRICES: (type(price("1")),)},
        strategies._on_price,
        state=StrategySlot,
        changelog=StateChangelogs.STRATEGIES,
        dedupe=False,
    )
    outbox = RecordingOutbox()
    batch: Batch[StrategySlot] = Batch(stage, outbox)  # type: ignore[arg-type]
    # The grid's center at 100; 125 is two lines up: it sells. ETH is no strategy's: no progress for it.
    work = _items(("100", 0, "BTC/USDT"), ("3000", 1, "ETH/USDT"), ("125", 2, "BTC/USDT"))
    strategies.progress.plan(work)
    for item in work:
        stage._apply(item, batch)
    published = [(topic, where, CODEC.decode(value)) for topic, _, value, where in outbox.records]
    kinds = [type(event) for _, _, event in published]
    assert kinds == [OrderRequested] + [OrdersDecidedThrough] * Topics.ORDERS_REQUESTED.partitions
    marks = [(where.get("partition"), event) for _, where, event in published[1:]]
    assert [partition for partition, _ in marks] == list(range(Topics.ORDERS_REQUESTED.partitions))
    assert all(isinstance(e, OrdersDecidedThrough) and e.partition == p for p, e in marks)
    assert {(e.symbol, e.through) for _, e in marks if isinstance(e, OrdersDecidedThrough)} == {
        ("BTC/USDT", START + timedelta(seconds=2))
    }
    assert all(topic.endswith("orders.requested") for topic, _, _ in published)


def test_without_the_engine_no_progress_is_declared() -> None:
    assert strategies.progress.symbols == set()  # the setting is off in the unit tests
