"""The strategies stage's progress (`ZVT_PAPER_ENGINE`): once per symbol and batch, after the orders it
decided, a copy of `orders.decided_through` to each partition of orders.requested; and the market data
stage's `market.prices_through` after a batch's last tick of a symbol that moved no price."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents import market_data, strategies
from agents.stage import Batch, Item, Stage
from agents.strategies import Progress
from schemas import CODEC, OrderRequested, OrdersDecidedThrough, PricesThrough, PriceUpdated, QuoteTick
from strategies import Roster, StrategiesConfig, StrategySlot
from strategies.config import StrategySpec
from tests.unit.agents.test_stage import RecordingOutbox
from tests.unit.strategies.support import START, price
from topics import StateChangelogs, Topics

GRID = {"spacing": "10", "levels": 2, "quantity": "0.1"}


def _items(*prices: tuple[str, int, str]) -> list[Item]:
    return [
        Item(
            Topics.PRICES,
            0,
            offset,
            symbol.encode(),
            b"",
            price(value, second, symbol=symbol)
            if value
            else PricesThrough(symbol=symbol, market_time=START + timedelta(seconds=second)),
        )
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
    # The last: the market data stage's word that BTC ticks up to 3 s moved no price.
    work = _items(
        ("100", 0, "BTC/USDT"), ("3000", 1, "ETH/USDT"), ("125", 2, "BTC/USDT"), ("", 3, "BTC/USDT")
    )
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
        ("BTC/USDT", START + timedelta(seconds=3))
    }
    assert all(topic.endswith("orders.requested") for topic, _, _ in published)


def test_without_the_engine_no_progress_is_declared() -> None:
    assert strategies.progress.symbols == set()  # the setting is off in the unit tests


def test_a_last_tick_that_moves_no_price_says_how_far_the_prices_are_derived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(market_data, "_DECLARE_PROGRESS", True)
    monkeypatch.setattr(market_data, "_last_of_symbol", {(0, "BTC/USDT"): 5})
    tick = QuoteTick(
        venue="binance",
        symbol="BTC/USDT",
        bid_price=price("1").price,
        ask_price=price("2").price,
        bid_size=price("1").price,
        ask_size=price("1").price,
        market_time=START,
    )
    last, earlier = (Item(Topics.MARKET_TICKS, 0, offset, b"", b"", tick) for offset in (5, 4))
    (through,) = market_data.prices_through(last, tick, [])  # an unchanged top, or quarantined
    assert isinstance(through, PricesThrough)
    assert (through.symbol, through.market_time, through.causation_id) == ("BTC/USDT", START, tick.event_id)
    assert market_data.prices_through(last, tick, [price("1")]) == []  # the price says it
    assert market_data.prices_through(earlier, tick, []) == []  # a later tick of the batch will


def test_a_parked_price_handed_back_declares_again_with_an_id_of_its_own() -> None:
    """The first time a price parks, the declaration stops at the last price decided before it; handed
    back with the next batch it declares just before itself: another mark, not a copy to drop."""
    progress = Progress({"BTC/USDT"}, partitions=1)
    decided, waiting = _items(("100", 1, "BTC/USDT"), ("101", 2, "BTC/USDT"))
    first_price, parked_price = decided.event, waiting.event
    assert isinstance(first_price, PriceUpdated)
    assert isinstance(parked_price, PriceUpdated)
    progress.plan([decided, waiting])
    assert progress.decided(decided, first_price) == []
    (first,) = progress.decided(waiting, parked_price, parked=True)
    progress.plan([waiting])  # the next batch: only the parked price, handed back
    (again,) = progress.decided(waiting, parked_price, parked=True)
    assert first.through == first_price.market_time
    assert again.through == parked_price.market_time - timedelta(microseconds=1)
    assert again.event_id != first.event_id
