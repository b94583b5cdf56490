"""The paper venue stage's handler without a broker: records in, the engines' events out on their topics,
keyed by account, with exact Decimals; the order watermark gating ticks; the changelog snapshot.

Venue `alpha` (maker 0.0002, taker 0.001, latency 50 ms); times in ms after T0 (matching_builders)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from agents.paper_venue import INPUTS, PaperSymbolState, PaperVenues
from agents.stage import Batch, Item, Stage
from schemas import (
    CODEC,
    CancelPaperOrder,
    CancelReason,
    Event,
    ModifyRejectReason,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExecuted,
    PaperOrdersThrough,
    QuoteTick,
    SubmitPaperOrder,
    TradeTick,
)
from strategies.runner import order_update
from tests.unit.agents.test_stage import RecordingOutbox
from tests.unit.trading.builders import D, routed
from tests.unit.trading.matching_builders import RULES, SETTINGS, at, quote, trade
from topics import StateChangelogs, Topics
from trading.markets import MarketRules

SYMBOL = "BTC/USDT"


def paper_rules(venue: str, symbol: str) -> MarketRules | None:
    return RULES if (venue, symbol) == ("alpha", SYMBOL) else None


def new_stage(
    sources: tuple[str, ...] = ("orders.0",), **options: Any
) -> tuple[Stage[PaperSymbolState], PaperVenues]:
    venues = PaperVenues(paper_rules, SETTINGS, sources, **options)
    stage = Stage(
        "paper_venue",
        INPUTS,
        venues.handle,
        state=PaperSymbolState,
        changelog=StateChangelogs.PAPER_VENUE,
        settle=venues.settle,
        settling=venues.settling,
    )
    return stage, venues


class Feed:
    """Numbers each topic's records like a partition does, and applies them as the stage would."""

    def __init__(self, stage: Stage[PaperSymbolState], venues: PaperVenues) -> None:
        self.stage, self.venues = stage, venues
        self.offsets = {Topics.MARKET_TICKS.name: 0, Topics.PAPER_COMMANDS.name: 0}
        self.parked: list[Item] = []  # handed back first with the next batch, as the stage does

    def items(self, *events: Event) -> list[Item]:
        items = []
        for event in events:
            topic = Topics.MARKET_TICKS if isinstance(event, TradeTick | QuoteTick) else Topics.PAPER_COMMANDS
            offset = self.offsets[topic.name]
            self.offsets[topic.name] += 1
            items.append(Item(topic, 0, offset, SYMBOL.encode(), b"", event))
        return items

    def batch(self, *events: Event, items: list[Item] | None = None) -> list[tuple[str, bytes, Any]]:
        """One batch: planned, applied, its state kept as the stage keeps it; the outputs (topic, key,
        event) in the order published."""
        work = [*self.parked, *(items if items is not None else self.items(*events))]
        outbox = RecordingOutbox()
        batch: Batch[PaperSymbolState] = Batch(self.stage, outbox)  # type: ignore[arg-type]
        self.venues.plan(work)
        for item in work:
            self.stage._apply(item, batch)
        self.stage._settle(batch)
        self.parked = batch.parked
        assert self.stage.store is not None
        for (partition, key), stored in batch.changed.items():
            self.stage.store.partitions.setdefault(partition, {})[key] = stored
        self.changed = batch.changed
        published = [
            (topic, key or b"", CODEC.decode(value) if value else None)
            for topic, key, value, _ in outbox.records  # a dead letter keeps the (here empty) bytes
        ]
        # What goes to the order stage's risk on paper.outcomes, apart (its own test below).
        risk = Topics.PAPER_OUTCOMES.full_name(self.stage.prefix)
        self.risk = [(key, event) for topic, key, event in published if topic == risk]
        return [record for record in published if record[0] != risk]


_IDS = iter(range(1, 10**9))


def submit(order_id: str, side: str, quantity: str, when: int, **terms: Any) -> SubmitPaperOrder:
    """An order routed to alpha, decided at `when` ms: it reaches the book 50 ms later."""
    order = routed({"alpha": quantity}, order_id=order_id, side=side, market_time=at(when), **terms)
    return SubmitPaperOrder(
        **order.model_dump(exclude={"event_id", "event_type", "version"}), event_id=UUID(int=next(_IDS))
    )


def through(when: int, source: str = "orders.0") -> PaperOrdersThrough:
    return PaperOrdersThrough(symbol=SYMBOL, source=source, through=at(when))


def cancel(order_id: str, when: int) -> CancelPaperOrder:
    return CancelPaperOrder(
        event_id=UUID(int=next(_IDS)),
        order_id=order_id,
        account_id="acct-1",
        market_time=at(when),
        symbol=SYMBOL,
        venue="alpha",
    )


def outputs(prefix: str, published: list[tuple[str, bytes, Any]]) -> list[str]:
    """Each output as 'topic key event_type order_id'."""
    return [
        f"{topic.removeprefix(prefix)} {key.decode()} {event.event_type} {getattr(event, 'order_id', '')}"
        for topic, key, event in published
    ]


def test_a_gtc_limit_rests_then_fills_on_a_later_trade_through_its_price() -> None:
    feed = Feed(*new_stage())
    prefix = feed.stage.prefix
    rested = feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),  # below the ask: rests
        through(10),
        trade(500, "100", "3"),  # at its price: the queue ahead is unknown, no fill
    )
    assert outputs(prefix, rested) == ["orders.accepted acct-1 order.accepted ord-1"]
    accepted = rested[0][2]
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.resting_quantity, accepted.accepted_at, accepted.venue) == (D("0.5"), at(60), "alpha")

    # A trade through it, but the order flow has not said it is past 1000 ms: the tick waits for it.
    assert feed.batch(trade(1000, "99.5", "2")) == []
    filled = feed.batch(through(1000))
    assert outputs(prefix, filled) == ["orders.executed acct-1 order.executed ord-1"]
    fill = filled[0][2]
    assert isinstance(fill, OrderExecuted)
    assert (fill.fill_quantity, fill.fill_price, fill.fee_currency) == (D("0.5"), D("100"), "USDT")
    assert str(fill.fee) == "0.01000"  # 0.5 x 100.0 x 0.0002, the maker fee: exact, never a float
    assert (fill.liquidity, fill.status, fill.cumulative_quantity, fill.remaining_quantity) == (
        "maker",
        "filled",
        D("0.5"),
        D(0),
    )
    assert fill.market_time == at(1000)
    assert fill.correlation_id == accepted.correlation_id


def test_a_cancel_ends_the_resting_order_and_a_second_is_answered_with_the_reason() -> None:
    feed = Feed(*new_stage())
    prefix = feed.stage.prefix
    feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        through(10),
        trade(100, "100.5", "1"),  # above a buy at 100: no fill; passes the order's arrival at 60
    )
    answered = feed.batch(
        cancel("ord-1", 700),  # reaches the book at 750
        through(700),
        trade(800, "99", "5"),  # through its price, after the cancel: nothing left to fill
        through(800),
        cancel("ord-1", 900),
        through(900),
        trade(1000, "99", "1"),  # passes the second cancel's arrival at 950
        through(1000),
    )
    assert outputs(prefix, answered) == [
        "orders.canceled acct-1 order.canceled ord-1",
        "orders.changes.rejected acct-1 order.cancel_rejected ord-1",
    ]
    canceled, refused = answered[0][2], answered[1][2]
    assert isinstance(canceled, OrderCanceled)
    assert isinstance(refused, OrderCancelRejected)
    assert (canceled.reason, canceled.canceled_quantity, canceled.cumulative_quantity) == (
        CancelReason.REQUESTED,
        D("0.5"),
        D(0),
    )
    assert canceled.canceled_at == at(750)
    assert refused.reason is ModifyRejectReason.ALREADY_CANCELED


def test_ticks_wait_for_every_order_source_to_pass_their_time() -> None:
    feed = Feed(*new_stage(sources=("orders.0", "orders.1")))
    feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        trade(100, "99", "1"),
        through(1000, "orders.0"),
    )
    assert feed.venues.memory[(0, SYMBOL)].engines["alpha"].working_orders() == []  # nothing released
    released = feed.batch(through(100, "orders.1"))  # the slower source decides
    assert outputs(feed.stage.prefix, released) == [
        "orders.accepted acct-1 order.accepted ord-1",
        "orders.executed acct-1 order.executed ord-1",
    ]
    fill = released[1][2]
    assert isinstance(fill, OrderExecuted)
    assert (fill.fill_quantity, fill.fill_price, fill.market_time) == (D("0.5"), D("100"), at(100))


def test_one_snapshot_per_symbol_per_batch_covers_both_topics_offsets() -> None:
    feed = Feed(*new_stage())
    feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        through(40),
        trade(100, "100.5", "1"),  # past the watermark plus the latency: held, not in the snapshot
        trade(110, "100.5", "1"),
    )
    (slot,) = feed.changed
    assert slot == (0, SYMBOL)
    assert feed.changed[slot].offsets == {Topics.MARKET_TICKS.name: 0, Topics.PAPER_COMMANDS.name: 1}
    # The first held tick is parked (its partition committed no further: read again after a restart),
    # the next waits behind it without being handed back with every batch.
    assert [item.offset for item in feed.parked] == [1]
    assert [item.offset for item in feed.venues._holding[slot]] == [1, 2]
    feed.batch(through(55))
    assert feed.changed[slot].offsets == {Topics.MARKET_TICKS.name: 1, Topics.PAPER_COMMANDS.name: 2}
    assert [item.offset for item in feed.parked] == [2]
    saved = feed.changed[slot].value.engines["alpha"]
    assert saved.ticks == ()  # nothing pending is kept in the snapshot


def test_a_worker_rebuilt_from_the_changelog_matches_on_exactly_as_the_first() -> None:
    events = (
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.7", 10, limit_price=D("100")),
        submit("ord-2", "sell", "0.2", 20, limit_price=D("101.5")),
        through(20),
        trade(100, "100.5", "1"),
    )
    later = (trade(400, "99.9", "0.3"), through(400), quote(500, "101.6", "0.4", "102", "1"), through(500))

    straight = Feed(*new_stage())
    straight.batch(*events)
    expected = straight.batch(*later)

    first = Feed(*new_stage())
    first.batch(*events)
    assert first.stage.store is not None
    store = first.stage.store
    # Another worker: a new handler with no memory, its state read back from the changelog's bytes.
    stage, venues = new_stage()
    assert stage.store is not None
    stage.store.partitions = {
        p: {key: store.decode(store.encode(stored)) for key, stored in states.items()}
        for p, states in store.partitions.items()
    }
    second = Feed(stage, venues)
    second.offsets = dict(first.offsets)
    again = second.batch(*later)
    assert [(t, k, e.model_dump(exclude={"timestamp"})) for t, k, e in again] == [
        (t, k, e.model_dump(exclude={"timestamp"})) for t, k, e in expected
    ]
    fills = [e for _, _, e in again if isinstance(e, OrderExecuted)]
    assert [(f.order_id, f.fill_quantity, f.fill_price, str(f.fee)) for f in fills] == [
        ("ord-1", D("0.3"), D("100"), "0.00600"),  # a trade through the buy's price: 0.3 of it, maker
        ("ord-2", D("0.2"), D("101.5"), "0.004060"),  # a bid above the sell's price: all of it, maker
    ]


def test_a_redelivered_record_is_dropped() -> None:
    feed = Feed(*new_stage())
    items = feed.items(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        through(10),
        trade(100, "100.5", "1"),
    )
    assert outputs(feed.stage.prefix, feed.batch(items=items)) == [
        "orders.accepted acct-1 order.accepted ord-1"
    ]
    assert feed.batch(items=items) == []  # at or below the symbol's offsets: applied before


def test_a_command_for_a_venue_that_is_not_paper_is_dead_lettered_and_touches_no_engine() -> None:
    feed = Feed(*new_stage())
    order = routed({"alpha": "0.1", "kraken": "0.1"}, order_id="ord-9", limit_price=D("100"))
    command = SubmitPaperOrder(**order.model_dump(exclude={"event_id", "event_type", "version"}))
    (dead,) = feed.batch(quote(0, "99", "1", "101", "1"), through(10), trade(100, "99", "1"), command)
    assert dead[0] == Topics.PAPER_COMMANDS.dead_letter.full_name(feed.stage.prefix)  # type: ignore[union-attr]
    assert feed.venues.memory[(0, SYMBOL)].engines["alpha"].order("acct-1", "ord-9") is None
    # Refused, not raised: the batch's snapshot still records the commands applied before it (through).
    assert feed.changed[(0, SYMBOL)].offsets[Topics.PAPER_COMMANDS.name] == 1


def test_the_stage_runs_as_the_setting_says_on_by_default() -> None:
    import agents.paper_venue
    from agents.settings import AgentSettings, get_agent_settings

    assert AgentSettings.model_fields["paper_engine"].default is True
    assert (agents.paper_venue.stage is not None) == get_agent_settings().paper_engine
    # Its engines keep few ended orders: they are in every snapshot, under the broker's message size.
    module = agents.paper_venue
    assert module.paper_venues.settings.terminal_orders_kept == module.ENDED_ORDERS_KEPT == 500


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_tick_is_released_once_every_partition_passed_it_less_the_latency() -> None:
    """An order decided at m reaches the book at m + 50 ms: a tick at t needs the orders through t - 50."""
    feed = Feed(*new_stage(sources=("orders.0", "orders.1")))
    feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        through(10, "orders.0"),
        through(10, "orders.1"),  # an idle partition: the strategies' progress, forwarded
        trade(100, "99", "1"),
    )
    engine = feed.venues.memory[(0, SYMBOL)].engines["alpha"]
    # The trade at 100 is held (parked): orders decided at 10..50 may still come.
    assert [getattr(item.event, "market_time", None) for item in feed.parked] == [at(100)]
    assert engine.pending_inputs == 0
    assert feed.batch(through(49, "orders.0"), through(49, "orders.1")) == []
    released = feed.batch(through(50, "orders.0"), through(50, "orders.1"))
    assert [e.event_type for _, _, e in released] == ["order.executed"]
    assert feed.parked == []
    assert engine.late_inputs == 0


def test_a_symbol_no_strategy_trades_waits_for_no_watermark() -> None:
    feed = Feed(*new_stage(sources=("orders.0", "orders.1"), watermarked=lambda symbol: False))
    released = feed.batch(
        quote(0, "99", "1", "101", "1"),
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100")),
        trade(100, "99", "1"),  # no partition ever declared anything
    )
    assert outputs(feed.stage.prefix, released) == [
        "orders.accepted acct-1 order.accepted ord-1",
        "orders.executed acct-1 order.executed ord-1",
    ]


def test_an_order_no_watermark_covers_does_not_stall_and_is_counted_apart() -> None:
    """Placed by hand with the wall clock in a replay of older data: taken at the newest tick, not at a
    time no watermark will ever pass; not a late input (no watermark lied)."""
    feed = Feed(*new_stage(sources=("orders.0",), sourced=lambda command: False))
    feed.batch(quote(0, "99", "1", "101", "1"), trade(100, "100.5", "1"), through(100))
    by_hand = submit("ord-1", "buy", "0.5", 10**12, limit_price=D("101"))  # decades after the data
    crossed = feed.batch(by_hand, quote(200, "99", "1", "101", "1"), through(200))
    assert [e.event_type for _, _, e in crossed] == ["order.executed"]  # at the book of 100, then 200
    fill = crossed[0][2]
    assert isinstance(fill, OrderExecuted)
    assert (fill.fill_price, fill.liquidity, fill.market_time) == (D("101"), "taker", at(100))
    engine = feed.venues.memory[(0, SYMBOL)].engines["alpha"]
    assert (engine.unsourced_inputs, engine.late_inputs) == (1, 0)


def test_a_command_waiting_for_a_later_tick_is_released_after_the_settle_time() -> None:
    clock = Clock()
    behind = [False]
    feed = Feed(*new_stage(clock=clock, behind=lambda: behind[0], settle_seconds=1.0))
    # The end of a recording: an order decided on the last tick, nothing after it.
    assert feed.batch(quote(0, "99", "1", "101", "1"), submit("ord-1", "buy", "0.5", 0), through(0)) == []
    assert feed.venues.settling()
    clock.now = 0.9
    assert feed.batch() == []
    behind[0] = True  # more input on the way: it may hold an earlier tick
    clock.now = 1.5
    assert feed.batch() == []
    behind[0] = False
    clock.now = 2.4  # 0.9 s quiet
    assert feed.batch() == []
    clock.now = 2.6
    settled = feed.batch()
    assert [e.event_type for _, _, e in settled] == ["order.executed"]
    fill = settled[0][2]
    assert isinstance(fill, OrderExecuted)
    assert (fill.fill_quantity, fill.fill_price, fill.market_time) == (D("0.5"), D("101"), at(50))
    assert not feed.venues.settling()
    # The release is in the snapshot, with the offsets it had: a rebuilt worker does not redo it.
    assert feed.changed[(0, SYMBOL)].offsets == {Topics.MARKET_TICKS.name: 0, Topics.PAPER_COMMANDS.name: 1}
    saved = feed.changed[(0, SYMBOL)].value.engines["alpha"]
    assert (saved.commands, saved.orders) == ((), ())


def test_a_good_till_time_is_no_reason_to_release_by_quiet() -> None:
    clock = Clock()
    feed = Feed(*new_stage(clock=clock))
    resting = submit("ord-1", "buy", "0.5", 0, limit_price=D("100"), expire_at=at(60_000))
    feed.batch(quote(0, "99", "1", "101", "1"), resting, through(0))
    clock.now = 5.0
    assert [e.event_type for _, _, e in feed.batch()] == ["order.accepted"]  # arrived, rests
    clock.now = 10.0
    assert feed.batch() == []  # its expiry at 60 s waits for a tick past it
    assert not feed.venues.settling()


def test_the_outcome_watermark_follows_the_strategy_updates_it_covers() -> None:
    """A symbol a hearing strategy trades: the engine's outcomes, then their strategies' updates (on
    strategies.order_updates, keyed by symbol), then `paper.outcomes_through` when it moved: the commands
    through 1050 bound it while no order lives, the ticks (another may come at 500) while one rests."""
    feed = Feed(*new_stage(heard=SYMBOL.__eq__, update_of=order_update))
    prefix = feed.stage.prefix
    first = feed.batch(quote(0, "99", "1", "101", "1"), through(0))
    assert outputs(prefix, first) == ["strategies.order_updates BTC/USDT paper.outcomes_through "]
    assert feed.risk == []  # no order yet: no account's risk waits for it
    assert first[0][2].through == at(50)  # no order lives: only an order arriving after 50 ms can act
    rested = feed.batch(
        submit("ord-1", "buy", "0.5", 10, limit_price=D("100"), strategy_id="grid"),
        through(1000),
        trade(500, "100", "3"),
    )
    assert outputs(prefix, rested) == [
        "orders.accepted acct-1 order.accepted ord-1",
        "strategies.order_updates BTC/USDT strategy.order_update ord-1",
        "strategies.order_updates BTC/USDT paper.outcomes_through ",
    ]
    assert rested[2][2].through == at(500) - timedelta(microseconds=1)
    # For the order stage's risk, on paper.outcomes: the outcome keyed by account, then the watermark, a
    # copy to each partition (the symbol has had an order now; before, none was sent).
    assert [(key, getattr(event, "event_type", None)) for key, event in feed.risk[:2]] == [
        (b"acct-1", "paper.risk_outcome"),
        (b"BTC/USDT", "paper.risk_outcomes_through"),
    ]
    copies = [(getattr(e, "partition", None), getattr(e, "through", None)) for _, e in feed.risk[1:]]
    assert copies == [(partition, at(500) - timedelta(microseconds=1)) for partition in range(6)]
    assert feed.batch(through(1000, "orders.0")) == []  # nothing moved: nothing declared again
    filled = feed.batch(trade(900, "99", "1"))
    assert outputs(prefix, filled) == [
        "orders.executed acct-1 order.executed ord-1",
        "strategies.order_updates BTC/USDT strategy.order_update ord-1",
        "strategies.order_updates BTC/USDT paper.outcomes_through ",
    ]
    assert filled[2][2].through == at(1050)  # filled: the commands bound it again
