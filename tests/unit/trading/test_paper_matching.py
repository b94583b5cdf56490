"""The paper matching engine, case by case, with exact Decimal fills and fees (maker 0.0002, taker 0.001).

Times are ms after T0; an order decided at t reaches the book at t + 50.
"""

from __future__ import annotations

from datetime import timedelta

from schemas import (
    CancelReason,
    ModifyRejectReason,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    RejectReason,
)
from tests.unit.trading.builders import D
from tests.unit.trading.matching_builders import (
    RULES,
    SETTINGS,
    Fill,
    Input,
    amend,
    at,
    book,
    cancel,
    feed,
    fills,
    kinds,
    order,
    quote,
    run,
    trade,
)
from trading.market_time import JUST_BEFORE
from trading.markets import MarketCatalog
from trading.paper_matching import MatchingSettings, PaperMatchingEngine


def test_resting_order_filled_by_a_later_trade_through_its_price() -> None:
    events = run(
        quote(0, "99", "1", "101", "1"),
        order("ord-1", "buy", "0.5", 10, limit_price="100"),  # does not cross the ask: rests
        trade(500, "100", "3"),  # at its price: the queue ahead of it is unknown, no fill
        trade(1000, "99.5", "2"),  # through it
    )
    accepted = events[0]
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.resting_quantity, accepted.accepted_at) == (D("0.5"), at(60))
    assert fills(events) == [Fill("ord-1", D("0.5"), D("100"), D("0.0100000"), "maker", 1000, "filled")]
    assert kinds(events) == ["order.accepted ord-1", "order.executed ord-1"]


def test_a_trade_at_the_price_fills_when_the_queue_is_taken_as_first() -> None:
    touch = MatchingSettings(latency=SETTINGS.latency, max_book_age=SETTINGS.max_book_age, fill_at_touch=True)
    events = run(
        quote(0, "99", "1", "101", "1"),
        order("ord-1", "buy", "0.5", 10, limit_price="100"),
        trade(500, "100", "0.2"),
        settings=touch,
    )
    assert fills(events) == [
        Fill("ord-1", D("0.2"), D("100"), D("0.00400"), "maker", 500, "partially_filled")
    ]


def test_partial_fills_over_several_ticks() -> None:
    events = run(
        quote(0, "100", "1", "101.5", "1"),
        order("ord-1", "sell", "1.0", 0, limit_price="101"),
        trade(100, "101.5", "0.3"),  # through a sell at 101: 0.3 of it
        quote(200, "101.2", "0.4", "101.6", "1"),  # a bid above its price: the book crosses it, 0.4
        trade(300, "100.9", "5"),  # below its price: nothing for a sell
        trade(400, "102", "0.5"),  # the last 0.3
    )
    assert fills(events) == [
        Fill("ord-1", D("0.3"), D("101"), D("0.0060600"), "maker", 100, "partially_filled"),
        Fill("ord-1", D("0.4"), D("101"), D("0.0080800"), "maker", 200, "partially_filled"),
        Fill("ord-1", D("0.3"), D("101"), D("0.0060600"), "maker", 400, "filled"),
    ]
    cumulative = [e.cumulative_quantity for e in events if hasattr(e, "cumulative_quantity")]
    assert cumulative == [D("0.3"), D("0.7"), D("1.0")]


def test_gtc_limit_takes_what_crosses_and_rests_the_remainder() -> None:
    events = run(
        quote(0, "99", "1", "100", "0.25"),
        order("ord-1", "buy", "1", 0, limit_price="100"),
        trade(1000, "99", "5"),
    )
    assert kinds(events) == ["order.accepted ord-1", "order.executed ord-1", "order.executed ord-1"]
    assert isinstance(events[0], OrderAccepted)
    assert events[0].resting_quantity == D("0.75")
    assert fills(events) == [
        Fill("ord-1", D("0.25"), D("100"), D("0.02500"), "taker", 50, "partially_filled"),
        Fill("ord-1", D("0.75"), D("100"), D("0.0150000"), "maker", 1000, "filled"),
    ]


def test_post_only_refused_if_it_would_take_and_its_amend_too() -> None:
    events = run(
        quote(0, "99", "1", "100", "1"),
        order("ord-1", "buy", "0.1", 0, limit_price="100", post_only=True),
        order("ord-2", "buy", "0.1", 0, limit_price="99.99", post_only=True),
        amend("ord-2", 100, limit_price="100"),
    )
    refused = events[0]
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.POST_ONLY_WOULD_TAKE
    assert isinstance(events[1], OrderAccepted)
    amend_refused = events[2]
    assert isinstance(amend_refused, OrderAmendRejected)
    assert amend_refused.reason is ModifyRejectReason.POST_ONLY_WOULD_TAKE
    assert fills(events) == []


def test_stop_market_triggered_by_a_trade() -> None:
    events = run(
        quote(0, "104", "1", "105.5", "1"),
        order("ord-1", "buy", "0.2", 0, order_type="stop_market", stop_price="105"),
        trade(100, "104.9", "1"),  # below the stop
        trade(200, "105", "1"),  # reaches it
    )
    assert kinds(events) == ["order.accepted ord-1", "order.triggered ord-1", "order.executed ord-1"]
    triggered = events[1]
    assert isinstance(triggered, OrderTriggered)
    assert (triggered.trigger_price, triggered.triggered_at) == (D("105"), at(200))
    assert fills(events) == [Fill("ord-1", D("0.2"), D("105.5"), D("0.02110"), "taker", 200, "filled")]


def test_stop_market_triggered_by_a_quote_takes_what_the_book_shows() -> None:
    events = run(
        quote(0, "96", "1", "96.5", "1"),
        order("ord-1", "sell", "0.3", 0, order_type="stop_market", stop_price="95", trigger_source="quote"),
        trade(100, "94", "1"),  # trades are not what it watches
        quote(200, "95.5", "1", "96", "1"),
        quote(300, "95", "0.1", "95.2", "1"),  # the bid reaches the stop
    )
    assert kinds(events) == [
        "order.accepted ord-1",
        "order.triggered ord-1",
        "order.executed ord-1",
        "order.canceled ord-1",
    ]
    assert fills(events) == [Fill("ord-1", D("0.1"), D("95"), D("0.00950"), "taker", 300, "partially_filled")]
    canceled = events[3]
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.reason, canceled.canceled_quantity) == (CancelReason.UNFILLED_REMAINDER, D("0.2"))


def test_stop_limit_rests_after_its_trigger() -> None:
    events = run(
        quote(0, "100", "1", "100.5", "1"),
        order("ord-1", "buy", "1", 0, order_type="stop_limit", stop_price="101", limit_price="101.2"),
        quote(100, "100.9", "1", "101.1", "0.4"),  # ask 101.1 reaches the stop... but it watches trades
        trade(200, "101", "1"),  # triggers: takes the 0.4 at 101.1, rests 0.6 at 101.2
        trade(300, "101.1", "2"),  # through 101.2: the rest, as maker
    )
    assert fills(events) == [
        Fill("ord-1", D("0.4"), D("101.1"), D("0.04044"), "taker", 200, "partially_filled"),
        Fill("ord-1", D("0.6"), D("101.2"), D("0.0121440"), "maker", 300, "filled"),
    ]


def test_fok_is_all_or_nothing_walking_the_depth() -> None:
    depth = book(0, [("99", "1")], [("100", "0.3"), ("100.5", "0.5"), ("101", "9")])
    events = run(
        depth,
        order("ord-1", "buy", "0.5", 0, limit_price="100.2", time_in_force="fok"),  # 0.3 within 100.2
        order("ord-2", "buy", "0.5", 0, limit_price="100.5", time_in_force="fok"),
    )
    refused = events[0]
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.NO_LIQUIDITY
    assert refused.detail == "FOK: 0.3 within the limit, 0.5 asked"
    assert fills(events) == [
        Fill("ord-2", D("0.3"), D("100"), D("0.03000"), "taker", 50, "partially_filled"),
        Fill("ord-2", D("0.2"), D("100.5"), D("0.02010"), "taker", 50, "filled"),
    ]


def test_two_orders_share_one_unchanged_top() -> None:
    events = run(
        quote(0, "99", "1", "100", "0.5"),
        order("ord-b", "buy", "0.3", 0),  # both reach the book at 50 ms: by order id, a first
        order("ord-a", "buy", "0.3", 0),
        quote(100, "98", "2", "100", "0.5"),  # the bid moved, the ask is what it was: still used up
        order("ord-c", "buy", "0.1", 100),
        quote(200, "98", "2", "100", "0.6"),  # a new ask size: new liquidity
        order("ord-d", "buy", "0.1", 200),
    )
    assert fills(events) == [
        Fill("ord-a", D("0.3"), D("100"), D("0.0300"), "taker", 50, "filled"),
        Fill("ord-b", D("0.2"), D("100"), D("0.0200"), "taker", 50, "partially_filled"),
        Fill("ord-d", D("0.1"), D("100"), D("0.0100"), "taker", 250, "filled"),
    ]
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    assert [(e.order_id, e.reason) for e in rejected] == [("ord-c", RejectReason.NO_LIQUIDITY)]
    remainder = [e for e in events if isinstance(e, OrderCanceled)]
    assert [(e.order_id, e.canceled_quantity) for e in remainder] == [("ord-b", D("0.1"))]


def test_a_stale_book_is_no_book() -> None:
    events = run(
        quote(0, "99", "1", "100", "1"),
        order("ord-1", "buy", "0.1", 6000),  # 6.05 s after the last quote: older than 5 s
        order("ord-2", "buy", "0.1", 6000, limit_price="100.5"),  # would cross: rests without taking
        order("ord-3", "sell", "0.1", 6000, order_type="stop_market", stop_price="99"),
        trade(7000, "98", "1"),  # trades through ord-2's price; triggers ord-3 into the same stale book
    )
    refused = events[0]
    assert isinstance(refused, OrderRejected)
    assert refused.reason is RejectReason.STALE_BOOK
    assert refused.detail.startswith("the alpha book is 6.05s old")
    assert fills(events) == [Fill("ord-2", D("0.1"), D("100.5"), D("0.002010"), "maker", 7000, "filled")]
    stop_end = [e for e in events if isinstance(e, OrderCanceled)]
    assert [(e.order_id, e.reason) for e in stop_end] == [("ord-3", CancelReason.STALE_BOOK)]


def test_no_book_at_all() -> None:
    events = run(order("ord-1", "buy", "0.1", 0), trade(100, "100", "1"))
    refused = events[0]
    assert isinstance(refused, OrderRejected)
    assert (refused.reason, refused.detail) == (
        RejectReason.NO_LIQUIDITY,
        f"no book on alpha at {at(50).isoformat()}",
    )


def test_cancel_racing_a_fill_exactly_one_wins() -> None:
    resting: list[Input] = [
        quote(0, "99", "1", "101", "1"),
        order("ord-1", "buy", "0.5", 0, limit_price="100"),
    ]
    # The cancel reaches the book at 1000 ms, the time of the trade: the tick is first, the fill wins.
    fill_first = run(*resting, cancel("ord-1", 950), trade(1000, "99", "1"))
    assert kinds(fill_first) == [
        "order.accepted ord-1",
        "order.executed ord-1",
        "order.cancel_rejected ord-1",
    ]
    loser = fill_first[2]
    assert isinstance(loser, OrderCancelRejected)
    assert loser.reason is ModifyRejectReason.ALREADY_FILLED
    # One millisecond earlier the cancel is first: nothing fills.
    cancel_first = run(*resting, cancel("ord-1", 949), trade(1000, "99", "1"))
    assert kinds(cancel_first) == ["order.accepted ord-1", "order.canceled ord-1"]
    canceled = cancel_first[1]
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.reason, canceled.canceled_quantity, canceled.canceled_at) == (
        CancelReason.REQUESTED,
        D("0.5"),
        at(999),
    )


def test_cancel_after_a_partial_fill_cancels_the_remainder() -> None:
    events = run(
        quote(0, "99", "1", "101", "1"),
        order("ord-1", "buy", "0.5", 0, limit_price="100"),
        trade(500, "99", "0.2"),
        cancel("ord-1", 600),
        trade(700, "99", "5"),
    )
    assert fills(events) == [
        Fill("ord-1", D("0.2"), D("100"), D("0.00400"), "maker", 500, "partially_filled")
    ]
    canceled = events[-1]
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.canceled_quantity, canceled.cumulative_quantity) == (D("0.3"), D("0.2"))


def test_a_cancel_of_an_unknown_or_ended_order_is_answered() -> None:
    events = run(
        quote(0, "99", "1", "100", "1"),
        cancel("ord-404", 0),
        order("ord-1", "buy", "0.1", 0),  # fills at once
        cancel("ord-1", 100),
    )
    answers = [e for e in events if isinstance(e, OrderCancelRejected)]
    assert [(e.order_id, e.reason) for e in answers] == [
        ("ord-404", ModifyRejectReason.UNKNOWN_ORDER),
        ("ord-1", ModifyRejectReason.ALREADY_FILLED),
    ]


def test_expiry_at_its_market_time_comes_before_a_tick_of_that_time() -> None:
    events = run(
        quote(0, "99", "1", "101", "1"),
        order("ord-1", "buy", "0.5", 0, limit_price="100", expire_at=at(2000)),
        order("ord-2", "buy", "0.5", 0, limit_price="100", expire_at=at(2500)),
        trade(1999, "99.9", "0.1"),
        trade(2000, "99", "5"),
    )
    assert fills(events) == [
        Fill("ord-1", D("0.1"), D("100"), D("0.00200"), "maker", 1999, "partially_filled"),
        Fill("ord-2", D("0.5"), D("100"), D("0.0100"), "maker", 2000, "filled"),
    ]
    expired = [e for e in events if isinstance(e, OrderExpired)]
    assert [(e.order_id, e.expired_quantity, e.cumulative_quantity) for e in expired] == [
        ("ord-1", D("0.4"), D("0.1"))
    ]


def test_an_amend_that_crosses_takes_and_one_below_the_filled_is_refused() -> None:
    events = run(
        quote(0, "99", "1", "101", "0.3"),
        order("ord-1", "buy", "1", 0, limit_price="100"),
        trade(100, "99", "0.4"),
        amend("ord-1", 200, quantity="0.4"),  # not above the 0.4 filled
        amend("ord-1", 300, limit_price="101"),  # now crosses the ask: takes its 0.3
    )
    refused = [e for e in events if isinstance(e, OrderAmendRejected)]
    assert [e.reason for e in refused] == [ModifyRejectReason.QUANTITY_NOT_ABOVE_FILLED]
    amended = [e for e in events if isinstance(e, OrderAmended)]
    assert [(e.limit_price, e.amended_at) for e in amended] == [(D("101"), at(350))]
    assert fills(events) == [
        Fill("ord-1", D("0.4"), D("100"), D("0.00800"), "maker", 100, "partially_filled"),
        Fill("ord-1", D("0.3"), D("101"), D("0.03030"), "taker", 350, "partially_filled"),
    ]


def test_an_order_waits_until_the_ticks_have_passed_its_arrival() -> None:
    engine = PaperMatchingEngine(RULES, SETTINGS)
    feed(engine, quote(0, "99", "1", "100", "1"))
    feed(engine, order("ord-1", "buy", "0.1", 0))
    engine.orders_through(at(0))
    assert engine.run() == []  # it reaches the book at 50 ms; no tick has passed 50 ms yet
    feed(engine, quote(50, "99", "1", "100.5", "1"))  # in force at 50 ms: the order takes this one
    assert engine.run() == []
    feed(engine, quote(51, "99", "1", "102", "1"))
    assert fills(engine.run()) == [Fill("ord-1", D("0.1"), D("100.5"), D("0.01005"), "taker", 50, "filled")]


def test_ticks_wait_for_the_orders_of_their_time() -> None:
    """A tick is not matched while an order that reaches the book before it may still come: a slow
    order flow gives the same fills as a fast one."""
    engine = PaperMatchingEngine(RULES, SETTINGS)
    feed(engine, quote(0, "99", "1", "101", "1"))
    feed(engine, trade(1000, "99", "1"))
    assert engine.run() == []  # no watermark on the orders yet
    feed(engine, order("ord-1", "buy", "0.5", 500, limit_price="100"))
    engine.orders_through(at(1000))
    assert fills(engine.run()) == [Fill("ord-1", D("0.5"), D("100"), D("0.0100000"), "maker", 1000, "filled")]
    assert engine.late_inputs == 0


def test_maker_and_taker_fees_come_from_the_ccxt_market(real_catalog: MarketCatalog) -> None:
    """kraken's ccxt metadata: maker 0.16%, taker 0.26% (binance charges 0.1% either way)."""
    kraken = real_catalog.get("kraken", "BTC/USDT")
    assert kraken is not None
    assert (kraken.maker_fee, kraken.taker_fee) == (D("0.0016"), D("0.0026"))
    engine = PaperMatchingEngine(kraken, MatchingSettings(latency=timedelta(0)))
    engine.add_tick(quote(0, "60000", "1", "60001", "1").model_copy(update={"venue": "kraken"}))
    engine.submit(order("ord-1", "buy", "0.01", 1))
    engine.submit(order("ord-2", "sell", "0.01", 1, limit_price="60002"))
    engine.add_tick(trade(10, "60003", "1").model_copy(update={"venue": "kraken"}))
    assert [(f.order_id, f.price, f.fee, f.liquidity) for f in fills(engine.end())] == [
        ("ord-1", D("60001"), D("1.560026"), "taker"),  # 0.01 x 60001 x 0.0026
        ("ord-2", D("60002"), D("0.960032"), "maker"),  # 0.01 x 60002 x 0.0016
    ]


def test_the_legs_of_one_order_on_two_venues_make_distinct_events() -> None:
    from tests.unit.trading.builders import routed, rules

    order_on_two = routed({"alpha": "0.2", "beta": "0.2"}, market_time=at(0))
    ids = []
    for venue in ("alpha", "beta"):
        engine = PaperMatchingEngine(rules(venue), SETTINGS)
        engine.add_tick(quote(0, "99", "1", "100", "0.1").model_copy(update={"venue": venue}))
        engine.submit(order_on_two)
        ids += [event.event_id for event in engine.end()]
    assert len(ids) == len(set(ids)) == 4  # a fill of 0.1 and the remainder canceled, on each venue


def test_settings_come_from_the_paper_config() -> None:
    from trading.config import PaperSettings

    settings = MatchingSettings.from_paper(PaperSettings(latency_ms=D(20), max_book_age_seconds=D("2.5")))
    assert (settings.latency, settings.max_book_age) == (timedelta(milliseconds=20), timedelta(seconds=2.5))


def test_the_outcome_watermark_follows_the_commands_and_while_an_order_lives_the_ticks() -> None:
    """Every outcome at or before `outcomes_through` has been made: the commands bound it always (an
    order decided later may arrive), the ticks only while an order is live (a tick may fill it)."""
    engine = PaperMatchingEngine(RULES, SETTINGS)
    engine.add_tick(quote(0, "99", "1", "101", "1"))
    engine.orders_through(at(1000))  # commands complete through 1050
    engine.run()
    assert engine.outcomes_through() == at(1050)  # no order: no tick can make an outcome
    engine.submit(order("ord-1", "buy", "0.5", 1100, limit_price="100"))  # arrives at 1150
    assert engine.outcomes_through() == at(1050)
    engine.orders_through(at(2000))
    assert engine.run() == []  # waits for the ticks through 1150
    assert engine.outcomes_through() == at(1150) - JUST_BEFORE
    engine.add_tick(trade(1500, "100.5", "1"))
    assert kinds(engine.run()) == ["order.accepted ord-1"]
    assert engine.outcomes_through() == at(1500) - JUST_BEFORE  # resting: another tick at 1500 may fill it
    assert engine.outcomes_through(ticks_fed=at(1800)) == at(1800)  # the symbol's feed is there
    engine.add_tick(trade(1900, "99.5", "2"))
    assert kinds(engine.run()) == ["order.executed ord-1"]
    assert engine.outcomes_through() == at(2050)  # filled: only the commands bound it again
