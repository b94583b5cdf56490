"""Replay determinism: the same ticks and orders, arriving in any interleaving (with truthful watermarks),
give exactly the same events, in the same order, as ticks first or orders first."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Event, OrderBookUpdated, OrderValidated, QuoteTick, TradeTick
from tests.unit.trading.matching_builders import (
    RULES,
    SETTINGS,
    Input,
    amend,
    at,
    book,
    cancel,
    feed,
    order,
    quote,
    trade,
)
from trading.paper_matching import PaperMatchingEngine

prices = st.integers(190, 210).map(lambda halves: f"{halves / 2:.1f}")  # 95.0 .. 105.0 by 0.5
sizes = st.sampled_from(["0.1", "0.25", "0.5", "1", "2"])


@st.composite
def ticks(draw: st.DrawFn) -> list[QuoteTick | TradeTick | OrderBookUpdated]:
    times = sorted(draw(st.lists(st.integers(0, 3000), min_size=1, max_size=25)))
    feed_: list[QuoteTick | TradeTick | OrderBookUpdated] = []
    for when in times:
        mid = draw(st.integers(192, 208)) / 2
        kind = draw(st.sampled_from(["trade", "quote", "book"]))
        if kind == "trade":
            feed_.append(trade(when, draw(prices), draw(sizes)))
        elif kind == "quote":
            feed_.append(quote(when, f"{mid - 0.5:.1f}", draw(sizes), f"{mid + 0.5:.1f}", draw(sizes)))
        else:
            bids = [(f"{mid - 0.5 - i:.1f}", draw(sizes)) for i in range(3)]
            asks = [(f"{mid + 0.5 + i:.1f}", draw(sizes)) for i in range(3)]
            feed_.append(book(when, bids, asks))
    return feed_


@st.composite
def an_order(draw: st.DrawFn, order_id: str, when: int) -> OrderValidated:
    side = draw(st.sampled_from(["buy", "sell"]))
    kind = draw(st.sampled_from(["market", "gtc", "ioc", "fok", "post_only", "stop_market", "stop_limit"]))
    terms: dict[str, Any] = {}
    if kind in ("gtc", "ioc", "fok", "post_only", "stop_limit"):
        terms["limit_price"] = draw(prices)
    if kind in ("ioc", "fok"):
        terms["time_in_force"] = kind
    if kind == "post_only":
        terms["post_only"] = True
    if kind.startswith("stop"):
        terms |= {"order_type": kind, "stop_price": draw(prices)}
        terms["trigger_source"] = draw(st.sampled_from(["trade", "quote"]))
    if kind in ("gtc", "post_only", "stop_limit", "stop_market") and draw(st.booleans()):
        terms["expire_at"] = at(when + draw(st.integers(1, 2000)))
    return order(order_id, side, draw(sizes), when, **terms)


@st.composite
def commands(draw: st.DrawFn) -> list[tuple[int, Input]]:
    """Orders, cancels and amends with their market times (ms), distinct and increasing."""
    times = sorted(draw(st.sets(st.integers(0, 3000), min_size=1, max_size=15)))
    made: list[str] = []
    stream: list[tuple[int, Input]] = []
    for when in times:
        what = draw(st.sampled_from(["order", "order", "order", "cancel", "amend"])) if made else "order"
        if what == "order":
            made.append(f"ord-{len(made)}")
            stream.append((when, draw(an_order(made[-1], when))))
        elif what == "cancel":
            stream.append((when, cancel(draw(st.sampled_from([*made, "ord-none"])), when)))
        else:
            stream.append((when, amend(draw(st.sampled_from(made)), when, limit_price=draw(prices))))
    return stream


def replay(tick_feed: list[Any], stream: list[tuple[int, Input]], interleaving: list[int]) -> list[Event]:
    """Feed both streams in the order `interleaving` picks (0: next tick, 1: next command, 2: run what
    is ready), declaring the commands' watermark after each, then the end of the data."""
    engine = PaperMatchingEngine(RULES, SETTINGS)
    ticks_left, commands_left = list(tick_feed), list(stream)
    events: list[Event] = []
    for pick in interleaving:
        if pick == 0 and ticks_left:
            feed(engine, ticks_left.pop(0))
        elif pick == 1 and commands_left:
            when, command = commands_left.pop(0)
            feed(engine, command)
            engine.orders_through(at(when))  # market times are distinct: nothing more at or before it
        else:
            events += engine.run()
    for item in ticks_left:
        feed(engine, item)
    for _, command in commands_left:
        feed(engine, command)
    events += engine.end()
    assert engine.late_inputs == 0
    return events


def comparable(events: list[Event]) -> list[dict[str, Any]]:
    return [event.model_dump(exclude={"timestamp"}) for event in events]  # the wall clock differs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tick_feed=ticks(),
    stream=commands(),
    interleaving=st.lists(st.integers(0, 2), max_size=80),
)
def test_any_arrival_interleaving_gives_identical_events(
    tick_feed: list[Any], stream: list[tuple[int, Input]], interleaving: list[int]
) -> None:
    ticks_first = comparable(replay(tick_feed, stream, [0] * len(tick_feed) + [1] * len(stream)))
    orders_first = comparable(replay(tick_feed, stream, [1] * len(stream) + [0] * len(tick_feed)))
    shuffled = comparable(replay(tick_feed, stream, interleaving))
    assert ticks_first == orders_first == shuffled
