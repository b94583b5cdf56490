"""Generated hostile messages on both input topics through a real worker on real Kafka, good messages
around them: each hostile one is dead-lettered with its reason or refused by risk with one, the good ones
flow, no poisoned price is ever published, and afterwards the issue's poisoned tick is quarantined and its
1,000 BTC order refused `max_order_notional`."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.clients import kafka_options
from runtime.processes import free_port
from runtime.producer import SignedProducer
from runtime.settings import Settings
from schemas import (
    CODEC,
    EventDecodeError,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderValidated,
    PriceUpdated,
    QuoteTick,
    RejectReason,
    TradeTick,
)
from tests.hostile import MARKET, Poison, hostile_orders, hostile_ticks
from tests.integration.metrics import scrape_metrics, total
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import KafkaTopic

from .support import (
    PipelineOutput,
    names,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

PER_TOPIC = 150
REFUSED = {DeadLetterReason.UNDECODABLE, DeadLetterReason.INVALID, DeadLetterReason.UNEXPECTED_TYPE}
VENUES = ("binance", "kraken", "okx")
TICK_KEY, ACCOUNT = b"BTC/USDT", "acct-good"


def collect(strategy: st.SearchStrategy[object], count: int) -> list[object]:
    found: list[object] = []

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(value: object) -> None:
        found.append(value)

    gather()
    return found


def fresh_ids(raw: bytes) -> bytes:
    """A generated event with ids of its own: otherwise copies of one base event would be dropped as
    redeliveries (the stages' dedupe), neither dead-lettered nor refused."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(value, dict):
        return raw
    fresh = str(uuid.uuid4())
    for name in ("event_id", "correlation_id", "order_id"):
        if isinstance(value.get(name), str):
            value[name] = fresh if name != "order_id" else f"h-{fresh[:8]}"
    return orjson.dumps(value)


def good_quote(venue: str, step: int) -> bytes:
    bid = MARKET + step % 5
    return CODEC.encode(
        QuoteTick(
            venue=venue, symbol="BTC/USDT", bid_price=bid, bid_size=Decimal(5), ask_price=bid + 1,
            ask_size=Decimal(5), market_time=datetime.now(UTC),
        )
    )  # fmt: skip


def good_order(step: int) -> OrderRequested:
    return OrderRequested(
        order_id=f"good-{step}-{uuid.uuid4().hex[:6]}", account_id=ACCOUNT, symbol="BTC/USDT", side="buy",
        order_type="market", quantity=Decimal("0.001"),
    )  # fmt: skip


@pytest.fixture
async def worker(pipeline_topics: Settings, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    config = tmp_path / "trading.toml"
    # As many good orders a second as the test sends: the rate limit is not what is tested here.
    config.write_text('[tick_guard]\nclock = "live"\n[default_limits]\nmax_orders_per_window = 100000\n')
    port = free_port()
    log = tmp_path / "worker.log"
    # Orders with a far-future market time would otherwise each wait for the market of their time.
    env = worker_env(pipeline_topics, config, port) | {"ZVT_MARKET_SETTLE_SECONDS": "0"}
    with start_worker(env, log):
        yield port, log


async def test_hostile_messages_are_refused_with_reasons_and_good_ones_flow(
    pipeline_topics: Settings, worker: tuple[int, Path]
) -> None:
    settings_ = pipeline_topics
    port, log = worker
    ticks_topic = Topics.MARKET_TICKS.full_name(settings_.topic_prefix)
    orders_topic = Topics.ORDERS_REQUESTED.full_name(settings_.topic_prefix)
    hostile_tick_values = collect(hostile_ticks(), PER_TOPIC)
    hostile_order_values = [fresh_ids(raw) for raw in collect(hostile_orders(), PER_TOPIC)]  # type: ignore[arg-type]
    good_orders: list[OrderRequested] = []
    sent_ticks: list[bytes] = []

    producer = SignedProducer(**kafka_options(settings_), linger_ms=5)
    await producer.start()
    try:
        for step in range(5):
            for venue in VENUES:
                await producer.send(ticks_topic, good_quote(venue, step), key=TICK_KEY)
        await producer.flush()
        await wait_for_books(port, {f"{venue}:BTC/USDT" for venue in VENUES})
        for step, (tick, order) in enumerate(zip(hostile_tick_values, hostile_order_values, strict=True)):
            raw = tick.encode(datetime.now(UTC)) if isinstance(tick, Poison) else tick
            assert isinstance(raw, bytes)
            sent_ticks.append(raw)
            await producer.send(ticks_topic, raw, key=TICK_KEY)
            for venue in VENUES:
                await producer.send(ticks_topic, good_quote(venue, step), key=TICK_KEY)
            await producer.send(orders_topic, order, key=b"acct-x")
            good = good_order(step)
            good_orders.append(good)
            await producer.send(orders_topic, CODEC.encode(good), key=ACCOUNT.encode())
        await producer.flush()
    finally:
        await producer.stop()

    # Which hostile orders are events at all (the others are the decoder's to dead-letter).
    decodable: dict[str, OrderRequested] = {}
    for raw in hostile_order_values:
        try:
            event = CODEC.decode(raw)
        except EventDecodeError:
            continue
        if isinstance(event, OrderRequested):
            decodable[str(event.correlation_id)] = event
    wanted_dead = {
        ticks_topic: len(sent_ticks),
        orders_topic: len(hostile_order_values) - len(decodable),
    }

    dead_letter_topics: list[KafkaTopic] = [
        t.dead_letter for t in (Topics.MARKET_TICKS, Topics.ORDERS_REQUESTED) if t.dead_letter is not None
    ]
    topics = names(
        settings_, Topics.PRICES, Topics.ORDERS_VALIDATED, Topics.ORDERS_REJECTED, Topics.ORDERS_EXECUTED,
        *dead_letter_topics,
    )  # fmt: skip
    async with read_topics(settings_, topics) as output:

        def dead(
            out: PipelineOutput, source: str, consumer: str | None = None
        ) -> list[tuple[DeadLetter, bytes]]:
            """The dead letters of `source`, of one consumer (the ticks': market data, beside whom the
            paper matching engine's stage refuses what it cannot read too) or of all."""
            return [
                (record, value)
                for topic, records in out.records.items()
                if topic.endswith(".dead-letter")
                for raw in records
                if (record := DeadLetter.from_headers(raw.headers)).source_topic == source
                and consumer in (None, record.consumer)
                for value in [raw.value or b""]
            ]

        def outcomes(out: PipelineOutput) -> dict[str, list[object]]:
            found: dict[str, list[object]] = {}
            for event in out.events.values():
                if isinstance(event, OrderRejected | OrderValidated | OrderExecuted):
                    found.setdefault(str(event.correlation_id), []).append(event)
            return found

        def settled() -> bool:
            done = outcomes(output)
            return (
                len(dead(output, ticks_topic, "market_data")) >= wanted_dead[ticks_topic]
                and len(dead(output, orders_topic)) >= wanted_dead[orders_topic]
                and all(str(o.correlation_id) in done for o in good_orders)
                and all(key in done for key in decodable)
            )

        await wait_until(
            settled,
            180,
            lambda: (
                f"dead letters {len(dead(output, ticks_topic, 'market_data'))}/"
                f"{wanted_dead[ticks_topic]} ticks, "
                f"{len(dead(output, orders_topic))}/{wanted_dead[orders_topic]} orders; "
                f"{len(outcomes(output))} order outcomes\n" + worker_log_tail(log)
            ),
        )

        # Every hostile tick dead-lettered once, with its bytes and a reason; none good.
        tick_letters = dead(output, ticks_topic, "market_data")
        assert len(tick_letters) == len(sent_ticks)
        # The paper matching engine's stage reads every tick too: it refuses what it cannot read, alike; a
        # tick the market data stage's guard quarantines is a valid tick to it.
        engine_letters = dead(output, ticks_topic, "paper_venue")
        assert Counter(value for _, value in engine_letters) == Counter(
            value for record, value in tick_letters if record.reason is not DeadLetterReason.QUARANTINED
        )
        assert {record.consumer for record, _ in dead(output, ticks_topic)} == {"market_data", "paper_venue"}
        assert Counter(value for _, value in tick_letters) == Counter(sent_ticks)
        reasons = {record.reason for record, _ in tick_letters}
        assert reasons <= {*REFUSED, DeadLetterReason.QUARANTINED}
        assert DeadLetterReason.QUARANTINED in reasons
        assert all(record.error for record, _ in tick_letters)
        # No hostile order slipped through as garbage, and each event among them has a reasoned outcome.
        order_letters = dead(output, orders_topic)
        assert len(order_letters) == wanted_dead[orders_topic]
        assert all(record.reason in REFUSED for record, _ in order_letters)
        done = outcomes(output)
        for key, request in decodable.items():
            for outcome in done[key]:
                if isinstance(outcome, OrderRejected):
                    assert outcome.detail
                elif isinstance(outcome, OrderValidated):  # a mutation that left a modest order: in limits
                    assert outcome.quantity * (outcome.limit_price or MARKET) <= Decimal(101_000), request
        # The good orders all filled; no price from a hostile tick was ever published.
        for good in good_orders:
            found = done[str(good.correlation_id)]
            assert any(isinstance(e, OrderExecuted) for e in found), found
        prices = output.of_type(PriceUpdated)
        assert prices
        assert all(abs(p.price - MARKET) < 10 for p in prices), {
            p.price for p in prices if abs(p.price - MARKET) >= 10
        }

        # Afterwards: the poisoned quote, then its 1,000 BTC market order.
        poison = QuoteTick(
            venue="binance", symbol="BTC/USDT", bid_price=Decimal("1.5"), bid_size=Decimal(1000),
            ask_price=Decimal("1.5"), ask_size=Decimal(1000), market_time=datetime(2999, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        whale = OrderRequested(
            order_id=f"whale-{uuid.uuid4().hex[:6]}", account_id="acct-whale", symbol="BTC/USDT", side="buy",
            order_type="market", quantity=Decimal(1000),
        )  # fmt: skip
        producer = SignedProducer(**kafka_options(settings_))
        await producer.start()
        try:
            await producer.send_and_wait(ticks_topic, CODEC.encode(poison), key=TICK_KEY)
            await producer.send_and_wait(orders_topic, CODEC.encode(whale), key=b"acct-whale")
        finally:
            await producer.stop()
        await wait_until(
            lambda: str(whale.correlation_id) in outcomes(output),
            60,
            lambda: worker_log_tail(log),
        )
        (refusal,) = outcomes(output)[str(whale.correlation_id)]
        assert isinstance(refusal, OrderRejected)
        assert refusal.reason is RejectReason.MAX_ORDER_NOTIONAL
        (quarantined,) = [r for r, v in dead(output, ticks_topic) if v == CODEC.encode(poison)]
        assert quarantined.reason is DeadLetterReason.QUARANTINED
        assert quarantined.error.startswith("future_time: ")
        assert all(p.price != Decimal("1.5") for p in output.of_type(PriceUpdated))

    metrics = await scrape_metrics(port)
    quarantined_total = sum(
        1 for r, _ in dead(output, ticks_topic) if r.reason is DeadLetterReason.QUARANTINED
    )
    assert total(metrics, "zvt_ticks_quarantined_total") == quarantined_total
    assert (
        total(metrics, "zvt_dead_letters_total", source="market.ticks", reason="quarantined")
        == quarantined_total
    )


async def test_a_quarantined_tick_moves_no_price_after_a_restart_either(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    """The market data stage rebuilds a venue's state from the tick log when a worker starts: from the
    ticks the guard accepts, not from the last one logged (here a quote at 1.5, quarantined)."""
    config = tmp_path / "trading.toml"
    config.write_text("")  # the replay clock: the band alone refuses the 1.5
    ticks_topic = Topics.MARKET_TICKS.full_name(pipeline_topics.topic_prefix)
    poison = QuoteTick(
        venue="binance", symbol="BTC/USDT", bid_price=Decimal("1.5"), bid_size=Decimal(1),
        ask_price=Decimal("1.5"), ask_size=Decimal(1), market_time=datetime.now(UTC),
    )  # fmt: skip
    async with read_topics(pipeline_topics, names(pipeline_topics, Topics.PRICES)) as output:
        for run in range(2):
            port = free_port()
            log = tmp_path / f"worker-{run}.log"
            with start_worker(worker_env(pipeline_topics, config, port), log):
                producer = SignedProducer(**kafka_options(pipeline_topics))
                await producer.start()
                try:
                    if run == 0:
                        for step in range(5):
                            await producer.send(ticks_topic, good_quote("binance", step), key=TICK_KEY)
                        await producer.send(ticks_topic, CODEC.encode(poison), key=TICK_KEY)
                    trade = TradeTick(
                        venue="binance", symbol="BTC/USDT", trade_id=f"t-{run}", price=MARKET,
                        quantity=Decimal(1), market_time=datetime.now(UTC),
                    )  # fmt: skip
                    await producer.send_and_wait(ticks_topic, CODEC.encode(trade), key=TICK_KEY)
                finally:
                    await producer.stop()

                def priced(trade: TradeTick = trade) -> bool:
                    return any(p.causation_id == trade.event_id for p in output.of_type(PriceUpdated))

                await wait_until(priced, 90, lambda log=log: worker_log_tail(log))  # type: ignore[misc]
        after_restart = [p for p in output.of_type(PriceUpdated) if p.causation_id == trade.event_id]
    # The second worker's price of its trade carries the book of the last good quote, not the poisoned one.
    assert [(p.price, p.bid_price) for p in after_restart] == [(MARKET, MARKET + 4)]
    assert all(
        p.price != Decimal("1.5") and p.bid_price != Decimal("1.5") for p in output.of_type(PriceUpdated)
    )
