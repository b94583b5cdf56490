"""A strategy hears of its own orders in market time: at its first price a reaction delay after an
outcome, whatever order the outcomes and the prices arrive in."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from schemas import (
    OrderCanceled,
    OrderCancelRequested,
    OrderExecuted,
    OrderRequested,
    OrderUpdateKind,
    PaperOutcomesThrough,
    PriceUpdated,
    StrategyOrderUpdate,
)
from schemas.primitives import Liquidity, Side, TimeInForce
from strategies import Roster, StrategiesConfig
from strategies.base import CancelIntent, Intent, OrderIntent, OwnOrder, OwnOrders, Params, Strategy
from strategies.config import StrategySpec
from strategies.runner import StrategyInstance, order_update
from tests.unit.trading.builders import canceled

from .outcomes import Driver, update
from .support import START, price

D = Decimal
DELAY = timedelta(milliseconds=500)


class EchoState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    heard: tuple[str, ...] = ()


class Echo(Strategy[Params, EchoState]):
    """Buys on its first price (GTC, key "first"); on every outcome it hears, notes it and buys again
    (`reaction`: a GTC limit at 99 unless set otherwise); asks to cancel every resting order it sees."""

    kind: ClassVar[str] = "echo-test"
    params_model = Params
    state_model = EchoState
    reaction = TimeInForce.GTC

    def on_price(self, state: EchoState, price: PriceUpdated) -> tuple[EchoState, list[OrderIntent]]:
        raise AssertionError("on_tick is used")

    def on_tick(
        self, state: EchoState, price: PriceUpdated, orders: OwnOrders
    ) -> tuple[EchoState, list[Intent]]:
        intents: list[Intent] = [CancelIntent(order_id=o.order_id) for o in orders.values() if o.rests]
        if not state.heard and price.market_time == START:
            intents.append(OrderIntent(side=Side.BUY, quantity=D(1), limit_price=D(100), key="first"))
        return state, intents

    def _heard(self, state: EchoState, what: str, at: object) -> tuple[EchoState, list[Intent]]:
        again = OrderIntent(side=Side.BUY, quantity=D(1), time_in_force=self.reaction, limit_price=D(99))
        return EchoState(heard=(*state.heard, f"{what} at {at}")), [again]

    def on_fill(self, state, order, update, orders, at):  # type: ignore[no-untyped-def]
        return self._heard(state, f"fill {update.fill_quantity} of {order.key}", at)

    def on_accepted(self, state, order, update, orders, at):  # type: ignore[no-untyped-def]
        return self._heard(state, f"accepted {order.key}", at)

    def on_ended(self, state, order, update, orders, at):  # type: ignore[no-untyped-def]
        return self._heard(state, f"{update.kind} {order.key}", at)


def instance(reaction: TimeInForce = TimeInForce.GTC) -> StrategyInstance:
    grid = {"spacing": "1", "levels": 1, "quantity": "1"}  # the spec's kind; Echo runs in its place
    spec = StrategySpec(id="echo", kind="grid", account="acct-e", symbols=("BTC/USDT",),
                        reaction_delay_ms=500, parameters=grid)  # fmt: skip
    strategy = Echo(Params())
    strategy.engine = True
    strategy.reaction = reaction
    return StrategyInstance(spec, strategy)


def at(seconds: float) -> PriceUpdated:
    whole = int(seconds)
    tick = price("100", whole)
    return tick.model_copy(update={"market_time": START + timedelta(seconds=seconds)})


def test_an_outcome_is_applied_at_the_first_price_a_delay_after_it_and_not_before() -> None:
    driver = Driver(instance())
    driver.feed(at(0))
    (first,) = driver.requests()
    assert (first.time_in_force, first.limit_price) == (TimeInForce.GTC, D(100))
    accepted = update(first, OrderUpdateKind.ACCEPTED, at=START + timedelta(milliseconds=200), remaining="1")
    driver.feed(accepted)  # arrives at once
    driver.feed(at(0.6))  # 0.6 < 0.2 + 0.5: not yet
    assert driver.slot is not None
    assert driver.slot.state.heard == ()
    driver.feed(at(0.7))  # 0.7 >= 0.7: applied before this price
    assert driver.slot.state.heard == (f"accepted first at {START + timedelta(milliseconds=200)}",)
    assert driver.slot.orders[first.order_id].working


def test_a_price_waits_for_the_end_of_an_immediate_order_decided_a_delay_before_it() -> None:
    """An IOC order decided at 1 s ends in the order stage's pass (its updates carry no market time: they
    count from the order's): the price at 1.5 s waits for them, the one at 1.4 s does not."""
    driver = Driver(instance(reaction=TimeInForce.IOC))
    driver.feed(at(0))
    driver.feed(update(driver.requests()[0], OrderUpdateKind.ACCEPTED, at=START, remaining="1"))
    driver.feed(at(1))  # hears the acceptance: sends an IOC buy at 99 (and a cancel of the resting one)
    ioc = driver.requests()[-1]
    assert ioc.time_in_force is TimeInForce.IOC
    driver.feed(at(1.4))
    assert driver.held == []
    driver.feed(at(1.5))
    assert len(driver.held) == 1  # waits: the IOC order's end has not come
    driver.feed(at(1.6))
    assert len(driver.held) == 2  # and the later price behind it
    part = update(
        ioc, OrderUpdateKind.FILLED, at=None, fill="0.4", price="99", cumulative="0.4", remaining="0.6"
    )
    driver.feed(part)
    assert len(driver.held) == 2  # a fill, not the end
    driver.feed(update(ioc, OrderUpdateKind.CANCELED, at=None, cumulative="0.4", ended=True))
    assert driver.held == []
    assert driver.slot is not None
    assert driver.slot.state.heard[-2:] == (f"fill 0.4 of None at {START + timedelta(seconds=1)}",
                                            f"canceled None at {START + timedelta(seconds=1)}")  # fmt: skip


def _scenario() -> tuple[list[PriceUpdated], list[StrategyOrderUpdate]]:
    """Prices every 250 ms; the resting order's acceptance, fills and cancel at their market times."""
    prices = [at(i / 4) for i in range(10)]
    driver = Driver(instance())
    driver.feed(prices[0])
    (first,) = driver.requests()
    ms = timedelta(milliseconds=1)
    updates = [
        update(first, OrderUpdateKind.ACCEPTED, at=START + 10 * ms, remaining="1"),
        update(first, OrderUpdateKind.FILLED, at=START + 600 * ms, fill="0.25", price="100",
               cumulative="0.25", remaining="0.75"),
        update(first, OrderUpdateKind.FILLED, at=START + 900 * ms, fill="0.25", price="100",
               cumulative="0.5",
               remaining="0.5"),
        update(first, OrderUpdateKind.CANCELED, at=START + 1200 * ms, cumulative="0.5", ended=True),
    ]  # fmt: skip
    return prices, updates


def _interleave(prices: list[PriceUpdated], updates: list[StrategyOrderUpdate], late: bool) -> list[object]:
    """Each update as soon as it exists (right after the first price at or past its market time), or
    as late as a price that needs it allows (just before the first price a delay after it), reversed."""
    arrivals: list[object] = []
    pending = list(updates)
    for tick in prices:
        if late:
            due = [u for u in pending if u.market_time and u.market_time + DELAY <= tick.market_time]
            arrivals.extend(reversed(due))
        arrivals.append(tick)
        if not late:
            due = [u for u in pending if u.market_time and u.market_time <= tick.market_time]
            arrivals.extend(due)
        pending = [u for u in pending if u not in due]
    return [*arrivals, *pending]


def test_two_interleavings_of_the_same_prices_and_outcomes_send_the_same_orders() -> None:
    prices, updates = _scenario()
    early, late = _interleave(prices, updates, late=False), _interleave(prices, updates, late=True)
    assert early != late
    sent = Driver(instance()).run(early)  # type: ignore[arg-type]
    assert sent == Driver(instance()).run(late)  # type: ignore[arg-type]
    heard_at = [order["market_time"] for order in sent if order.get("limit_price") == D(99)]
    # Heard at the first price >= outcome + 500 ms: 10 -> 750, 600 -> 1250, 900 -> 1500, 1200 -> 1750.
    assert heard_at == [START + timedelta(milliseconds=m) for m in (750, 1250, 1500, 1750)]
    cancels = [o["order_id"] for o in sent if "quantity" not in o]
    assert len(cancels) == len(set(cancels)) == 5  # each resting order once, though open for several prices


def test_a_copy_of_an_update_is_not_heard_twice() -> None:
    prices, updates = _scenario()
    twice = _interleave(prices, [*updates, *updates], late=False)
    driver = Driver(instance())
    assert driver.run(twice) == Driver(instance()).run(_interleave(prices, updates, late=False))  # type: ignore[arg-type]
    assert driver.slot is not None
    assert driver.slot.inbox == ()  # every update applied or, a copy, dropped: the slot does not grow
    assert driver.instance.learn(driver.slot, updates[-1]) is None  # its order ended: nothing to learn


def test_an_order_event_becomes_its_strategys_update_keyed_like_the_prices() -> None:
    order = OrderRequested(order_id="echo-1", account_id="acct-e", strategy_id="echo", symbol="BTC/USDT",
                           side=Side.BUY, order_type="limit", quantity=D(1), limit_price=D(100))  # fmt: skip
    fill = order.caused(
        OrderExecuted, **order.order_fields(), venue="binance", fill_id="f1", fill_quantity=D("0.4"),
        fill_price=D(100), fee=D(0), fee_currency="USDT", liquidity=Liquidity.MAKER,
        cumulative_quantity=D("0.4"), remaining_quantity=D("0.6"), status="partially_filled",
        market_time=START,
    )  # fmt: skip
    copied = order_update(fill)
    assert copied is not None
    assert (copied.kind, copied.fill_quantity, copied.remaining_quantity, copied.ended) == (
        OrderUpdateKind.FILLED, D("0.4"), D("0.6"), False,
    )  # fmt: skip
    assert (copied.source_event_id, copied.market_time, copied.correlation_id) == (
        fill.event_id, START, fill.correlation_id,
    )  # fmt: skip
    again = order_update(fill)
    assert again is not None
    assert again.model_dump(exclude={"timestamp"}) == copied.model_dump(exclude={"timestamp"})
    end = order_update(
        canceled(canceled_quantity="0.6", cumulative="0.4", order_id="echo-1", strategy_id="echo")
    )
    assert end is not None
    assert (end.kind, end.ended, end.cumulative_quantity) == (OrderUpdateKind.CANCELED, True, D("0.4"))
    assert isinstance(canceled(canceled_quantity="1"), OrderCanceled)
    assert order_update(canceled(canceled_quantity="1")) is None  # not a strategy's order


def test_own_order_view_tracks_fills() -> None:
    own = OwnOrder(order_id="o", side=Side.BUY, quantity=D(1), decided_at=START, filled=D("0.25"))
    assert own.remaining == D("0.75")
    assert isinstance(OrderCancelRequested(order_id="o", account_id="a"), OrderCancelRequested)


def test_a_strategy_that_does_not_hear_its_orders_keeps_none_and_never_waits() -> None:
    """The example kinds without the engine: their slots and their pace are as before."""
    spec = StrategySpec(id="ma", kind="ma_crossover", account="acct-m", symbols=("BTC/USDT",),
                        parameters={"fast": 1, "slow": 2, "quantity": "1"})  # fmt: skip
    roster = Roster(StrategiesConfig(strategies=(spec,)))
    (ma,) = roster.instances
    assert roster.hearing == {}
    driver = Driver(ma)
    for second, value in enumerate(("100", "101", "99", "103", "104")):
        driver.feed(price(value, second))
    assert driver.requests()  # it traded
    assert driver.held == []
    assert driver.slot is not None
    assert driver.slot.orders == {}
    assert "orders" not in driver.slot.model_dump_json()


def test_a_slot_stops_waiting_for_an_order_whose_end_never_came() -> None:
    """The stage's wall-clock bound: the order is given up, later prices no longer wait for it, and its
    outcomes still apply if they come."""
    driver = Driver(instance(reaction=TimeInForce.IOC))
    driver.feed(at(0))
    driver.feed(update(driver.requests()[0], OrderUpdateKind.ACCEPTED, at=START, remaining="1"))
    driver.feed(at(1))
    ioc = driver.requests()[-1]
    waiting = at(2)
    assert driver.slot is not None
    assert driver.instance.must_wait(driver.slot, waiting, driver.offset)
    given_up = driver.instance.stop_waiting(driver.slot, waiting)
    assert given_up.orders[ioc.order_id].given_up
    assert not driver.instance.must_wait(given_up, waiting, driver.offset)
    assert not driver.instance.must_wait(given_up, at(3), driver.offset)
    assert "given_up" not in driver.slot.model_dump_json()  # left out while false


def test_a_resting_order_holds_a_price_until_the_outcome_watermark_passes_its_time_less_the_delay() -> None:
    """The acceptance of a GTC order decided at 0 s can come at any time: the price at 1 s is stepped only
    once the paper engines declared every outcome through 0.5 s (1 s less the delay), and hears what came."""
    driver = Driver(instance(), keeping_up=False)
    driver.feed(at(0))
    (first,) = driver.requests()
    driver.feed(at(0.4))  # 0.4 - 0.5 is before the order was decided: nothing to wait for
    assert driver.held == []
    driver.feed(at(1))
    assert len(driver.held) == 1  # no watermark yet
    driver.feed(outcomes_through(START + timedelta(milliseconds=499)))
    assert len(driver.held) == 1  # not through 0.5 s
    accepted = update(first, OrderUpdateKind.ACCEPTED, at=START + timedelta(milliseconds=50), remaining="1")
    driver.feed(accepted)
    assert len(driver.held) == 1
    driver.feed(outcomes_through(START + timedelta(milliseconds=500)))
    assert driver.held == []
    assert driver.slot is not None
    assert driver.slot.state.heard == (f"accepted first at {START + timedelta(milliseconds=50)}",)
    assert driver.slot.outcomes_through == START + timedelta(milliseconds=500)


def outcomes_through(through: datetime) -> PaperOutcomesThrough:
    return PaperOutcomesThrough(symbol="BTC/USDT", through=through)
