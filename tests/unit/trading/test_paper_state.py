"""An engine saved (as JSON, as the changelog holds it) and loaded matches on exactly as the original:
pending ticks and commands behind the watermarks, working orders and their priority, an expiry, the
liquidity already taken from a level, ended orders answered with their reason."""

from __future__ import annotations

from datetime import UTC

from schemas import Event
from tests.unit.trading.builders import D
from tests.unit.trading.matching_builders import RULES, SETTINGS, at, cancel, feed, order, quote, trade
from trading.paper_matching import PaperMatchingEngine
from trading.paper_state import EngineState, load, save


def _comparable(events: list[Event]) -> list[dict[str, object]]:
    return [event.model_dump(exclude={"timestamp"}) for event in events]


def test_a_loaded_engine_gives_the_events_the_saved_one_would_have() -> None:
    engine = PaperMatchingEngine(RULES, SETTINGS)
    for item in (
        quote(0, "99", "1", "101", "0.4"),
        order("ord-1", "buy", "0.3", 10),  # a market buy: takes 0.3 of the ask's 0.4
        order("ord-2", "buy", "1", 20, limit_price="100", expire_at=at(3000)),  # rests, good till 3 s
        order("ord-3", "sell", "0.5", 30, limit_price="102"),  # rests above the bid
        trade(100, "100.5", "1"),
        order("ord-4", "buy", "0.2", 900, limit_price="101"),  # behind the watermark yet
        trade(1000, "99.5", "0.4"),  # behind the watermark yet: fills ord-2 in part once released
        cancel("ord-3", 1500),
    ):
        feed(engine, item)
    engine.orders_through(at(100))
    early = engine.run()
    assert [e.event_type for e in early] == ["order.executed", "order.accepted", "order.accepted"]
    assert (len(save(engine).ticks), len(save(engine).commands)) == (1, 3)  # ord-4, the cancel, the expiry

    saved = save(engine)
    loaded = load(RULES, SETTINGS, EngineState.model_validate_json(saved.model_dump_json()))
    assert save(loaded) == saved
    assert loaded.book.asks[0].taken == D("0.3")

    rest = (trade(2000, "101.5", "1"), trade(3500, "99", "5"))
    outcomes = []
    for each in (engine, loaded):
        for item in rest:
            feed(each, item)
        outcomes.append(_comparable(each.end()))
    assert outcomes[0] == outcomes[1]
    kinds = [(e["event_type"], e["order_id"]) for e in outcomes[0]]
    assert ("order.expired", "ord-2") in kinds
    assert ("order.canceled", "ord-3") in kinds
    assert saved.latest_tick.astimezone(UTC) == at(1000)
