from __future__ import annotations

from decimal import Decimal

import orjson

from schemas import OrderRequested
from schemas.primitives import OrderType, Side
from strategies import Roster, StrategiesConfig, StrategySlot
from strategies.config import StrategySpec
from strategies.grid import GridState

from .support import price

GRID = {"spacing": "10", "levels": 2, "quantity": "0.1"}


def spec(id_: str, venue: str | None = "binance", symbols: tuple[str, ...] = ("BTC/USDT",)) -> StrategySpec:
    return StrategySpec(id=id_, kind="grid", account="acct-g", symbols=symbols, venue=venue, parameters=GRID)


def test_a_price_reaches_the_strategies_of_its_symbol_and_venue() -> None:
    roster = Roster(
        StrategiesConfig(
            strategies=(spec("g-binance"), spec("g-any", venue=None), spec("g-eth", symbols=("ETH/USDT",)))
        )
    )
    assert [i.spec.id for i in roster.for_price(price("100", venue="binance"))] == ["g-binance", "g-any"]
    assert [i.spec.id for i in roster.for_price(price("100", venue="okx"))] == ["g-any"]
    assert roster.for_price(price("100", symbol="SOL/USDT")) == []


def test_orders_carry_the_strategy_account_market_time_and_ids_derived_from_the_price() -> None:
    (instance,) = Roster(StrategiesConfig(strategies=(spec("g-1"),))).instances
    slot, orders = instance.step(None, price("100", 0), offset=7) or (None, [])
    assert orders == []
    below = price("95", 1)
    stepped = instance.step(slot, below, offset=8)
    assert stepped is not None
    slot, (order,) = stepped
    assert isinstance(order, OrderRequested)
    assert (order.strategy_id, order.account_id, order.symbol, order.side) == (
        "g-1",
        "acct-g",
        "BTC/USDT",
        Side.BUY,
    )
    assert (order.order_type, order.quantity, order.limit_price) == (OrderType.MARKET, Decimal("0.1"), None)
    assert order.market_time == below.market_time
    assert order.venue == "binance"
    assert (order.causation_id, order.correlation_id) == (below.event_id, below.correlation_id)
    assert order.order_id.startswith("g-1-")
    assert len(order.order_id) == len("g-1-") + 20
    assert slot.applied_offset == 8
    # The same price stepped again from the same state (a redo after a crash): the same order and ids
    # (only the creation timestamp, wall clock, differs).
    again = instance.step(StrategySlot(state=GridState(center=Decimal(100)), applied_offset=7), below, 8)
    assert again is not None
    assert [o.model_dump(exclude={"timestamp"}) for o in again[1]] == [
        order.model_dump(exclude={"timestamp"})
    ]


def test_a_redelivered_offset_is_dropped() -> None:
    (instance,) = Roster(StrategiesConfig(strategies=(spec("g-1"),))).instances
    slot = StrategySlot(state=None, applied_offset=8)
    assert instance.step(slot, price("95"), offset=8) is None
    assert instance.step(slot, price("95"), offset=3) is None


def test_a_slot_recovered_from_its_json_steps_like_the_live_one() -> None:
    (instance,) = Roster(StrategiesConfig(strategies=(spec("g-1"),))).instances
    live, _ = instance.step(None, price("100"), 0) or (StrategySlot(), [])
    recovered = StrategySlot.model_validate(orjson.loads(orjson.dumps(live.model_dump(mode="json"))))
    assert isinstance(recovered.state, dict)
    next_price = price("89", 1)
    after_live = instance.step(live, next_price, 1)
    after_recovered = instance.step(recovered, next_price, 1)
    assert after_live is not None
    assert after_recovered is not None
    assert after_live[0] == after_recovered[0]
    both = (after_live, after_recovered)
    quantities = [[o.quantity for o in s[1] if isinstance(o, OrderRequested)] for s in both]
    assert quantities == [[Decimal("0.2")], [Decimal("0.2")]]


def test_a_price_published_again_at_a_new_offset_is_dropped_by_market_time() -> None:
    """After a crash the market data agent publishes its uncommitted ticks' prices again: same ids, later
    offsets. Prices at one market time are all applied once; an older one is a copy."""
    (instance,) = Roster(StrategiesConfig(strategies=(spec("g-1"),))).instances
    first, tied, later = price("100", 1), price("101", 1), price("102", 2)
    slot = None
    for offset, each in enumerate((first, tied)):
        stepped = instance.step(slot, each, offset)
        assert stepped is not None  # the same market time, another price: applied
        slot = stepped[0]
    assert slot is not None
    assert instance.step(slot, first, 5) is None  # published again
    assert instance.step(slot, tied, 6) is None
    stepped = instance.step(slot, later, 7)
    assert stepped is not None
    assert instance.step(stepped[0], tied, 8) is None  # older than the last applied
    other_venue = price("100", 1, venue="kraken")
    assert instance.step(stepped[0], other_venue, 9) is not None  # each venue has its own clock
