"""Forged and tampered events on every topic the agents read are dead-lettered `bad_signature` and change
nothing; a key is rotated under a running worker without a restart."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from runtime.clients import kafka_options
from runtime.processes import free_port
from runtime.producer import SignedProducer, publish_events
from runtime.settings import Settings
from schemas import (
    CODEC,
    Event,
    OrderBookUpdated,
    OrderExecuted,
    OrderRequested,
    OrderStatus,
    PositionUpdated,
    PriceUpdated,
    QuoteTick,
)
from schemas.base import utc_now
from schemas.market import BookLevel
from schemas.signing import (
    KEYRING,
    KEYRING_VARIABLE,
    RELOAD_SECONDS,
    SIGNATURE_HEADER,
    keyring,
    new_keyring,
    read_keyring,
    signature_in,
    write_keyring,
)
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import KafkaTopic

from .support import (
    PipelineOutput,
    names,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

ACCOUNT = "acct-signed"
# The topics a stage reads, and the topics the market view reads (no stage does; the event store's sink
# dead-letters what is forged there, tests/integration/eventstore/test_sink.py).
STAGE_INPUTS = (Topics.MARKET_TICKS, Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED, Topics.POSITIONS)
# How many stages read each: with the paper matching engine on (the default) its stage reads the ticks
# too, and the order stage the executions; each refuses a forgery on its own.
READERS = {Topics.MARKET_TICKS: 2, Topics.ORDERS_REQUESTED: 1, Topics.ORDERS_EXECUTED: 2, Topics.POSITIONS: 1}
FORGED_LETTERS = sum(2 * READERS[topic] for topic in STAGE_INPUTS)
VIEW_INPUTS = (Topics.PRICES, Topics.ORDER_BOOKS)


def harmful(topic: KafkaTopic) -> Event:
    """An event on `topic` that would change the pipeline's state or decisions if it were believed."""
    now = utc_now()
    if topic is Topics.MARKET_TICKS:
        return QuoteTick(
            venue="binance", symbol="BTC/USDT", bid_price=Decimal("1.4"), ask_price=Decimal("1.5"),
            bid_size=Decimal(1000), ask_size=Decimal(1000), market_time=now,
        )  # fmt: skip
    if topic is Topics.ORDERS_REQUESTED:
        return OrderRequested(
            order_id=f"forged-{uuid.uuid4().hex[:6]}", account_id=ACCOUNT, symbol="BTC/USDT",
            side="buy", order_type="market", quantity=Decimal("0.01"),
        )  # fmt: skip
    if topic is Topics.ORDERS_EXECUTED:
        return OrderExecuted(
            order_id=f"forged-{uuid.uuid4().hex[:6]}", account_id=ACCOUNT, symbol="BTC/USDT", side="buy",
            venue="binance",
            fill_id=f"forged-fill-{uuid.uuid4().hex[:6]}", status=OrderStatus.FILLED, fill_price=Decimal(1),
            fill_quantity=Decimal(1000), cumulative_quantity=Decimal(1000), remaining_quantity=Decimal(0),
            fee=Decimal(0), fee_currency="USDT", liquidity="taker",
        )  # fmt: skip
    if topic is Topics.POSITIONS:
        return PositionUpdated(
            account_id=ACCOUNT, symbol="BTC/USDT", quantity=Decimal(1000), average_cost=Decimal(60000),
            realized_pnl=Decimal(0), unrealized_pnl=Decimal(-10**7), fees_paid=Decimal(0),
            mark_price=Decimal(50000), quote_currency="USDT",
        )  # fmt: skip
    if topic is Topics.PRICES:
        return PriceUpdated(venue="binance", symbol="BTC/USDT", price=Decimal("1.5"), market_time=now)
    return OrderBookUpdated(
        venue="binance", symbol="BTC/USDT", bids=(BookLevel(price=Decimal("1.4"), size=Decimal(1)),),
        asks=(BookLevel(price=Decimal("1.5"), size=Decimal(1)),), sequence=10**9, market_time=now,
    )  # fmt: skip


def forgeries(topic: KafkaTopic) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """(value, headers): one unsigned, one whose bytes were changed after signing."""
    forged = CODEC.encode(harmful(topic))
    honest = CODEC.encode(harmful(topic))
    tampered = honest.replace(b'"BTC/USDT"', b'"BTC/USDT" ', 1)  # same event, other bytes
    assert tampered != honest
    return [(forged, []), (tampered, keyring().headers(honest))]


async def market(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/zvt/market/") as response,
    ):
        return dict(await response.json())


def dead_letters(output: PipelineOutput) -> list[tuple[DeadLetter, bytes]]:
    return [
        (DeadLetter.from_headers(record.headers), record.value or b"")
        for topic, records in output.records.items()
        if topic.endswith(".dead-letter")
        for record in records
    ]


def order(order_id: str) -> OrderRequested:
    return OrderRequested(
        order_id=order_id, account_id=ACCOUNT, symbol="BTC/USDT", side="buy", order_type="market",
        quantity=Decimal("0.01"),
    )  # fmt: skip


async def test_forged_and_tampered_events_on_every_agent_topic_are_refused_and_change_nothing(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    settings = pipeline_topics
    config = tmp_path / "trading.toml"
    config.write_text("")
    port = free_port()
    log = tmp_path / "worker.log"
    with start_worker(worker_env(settings, config, port), log):
        await publish_events(settings, [quote("binance", "BTC/USDT", "60000", "60001", "1", "0.5")])
        await wait_for_books(port, {"binance:BTC/USDT"})
        producer = SignedProducer(**kafka_options(settings), acks="all")
        await producer.start()
        sent: dict[str, list[bytes]] = {}
        try:
            for topic in (*STAGE_INPUTS, *VIEW_INPUTS):
                name = topic.full_name(settings.topic_prefix)
                for value, headers in forgeries(topic):
                    key = b"BTC/USDT" if topic in (Topics.MARKET_TICKS, *VIEW_INPUTS) else ACCOUNT.encode()
                    await producer.send_and_wait(name, value, key=key, headers=headers)
                    sent.setdefault(name, []).append(value)
        finally:
            await producer.stop()
        good = order(f"good-{uuid.uuid4().hex[:6]}")
        await publish_events(settings, [good])

        watched = names(
            settings,
            Topics.ORDERS_EXECUTED,
            Topics.ORDERS_REJECTED,
            Topics.POSITIONS,
            Topics.RISK_BREACHES,
            *(t.dead_letter for t in STAGE_INPUTS if t.dead_letter is not None),
        )
        async with read_topics(settings, watched) as output:
            await wait_until(
                lambda: (
                    len(dead_letters(output)) >= FORGED_LETTERS
                    and any(  # the good order's fill positioned (not a forged position: quantity 1000)
                        p.quantity < 1 and p.last_fill_id for p in output.of_type(PositionUpdated)
                    )
                ),
                90,
                lambda: f"{len(dead_letters(output))} dead letters; " + worker_log_tail(log),
            )
            await asyncio.sleep(2)  # anything a forgery would have caused has had time to come out
            found = dead_letters(output)
            view = await market(port)

    # every forgery on a stage's input: dead-lettered bad_signature with its original bytes, once
    assert len(found) == FORGED_LETTERS
    for letter, value in found:
        assert letter.reason is DeadLetterReason.BAD_SIGNATURE
        assert value in sent[letter.source_topic]
    assert {letter.source_topic for letter, _ in found} == set(names(settings, *STAGE_INPUTS))
    assert sorted(letter.error for letter, _ in found).count("no signature") == FORGED_LETTERS // 2
    # and nothing of them was applied: only the good order was executed, positioned, and nothing breached
    def made_by_the_pipeline(topic: KafkaTopic) -> list[Any]:
        """What the worker published on `topic` (the forgeries sent there are left out)."""
        name = topic.full_name(settings.topic_prefix)
        forged = set(sent.get(name, ()))
        return [CODEC.decode(r.value) for r in output.records.get(name, []) if r.value not in forged]

    executed: list[OrderExecuted] = made_by_the_pipeline(Topics.ORDERS_EXECUTED)
    assert {e.order_id for e in executed} == {good.order_id}
    assert all(e.fill_price > Decimal(59000) for e in executed)  # at the real book, not the forged 1.5
    assert not made_by_the_pipeline(Topics.ORDERS_REJECTED)
    positions: list[PositionUpdated] = made_by_the_pipeline(Topics.POSITIONS)
    assert {p.last_fill_id for p in positions} == {e.fill_id for e in executed}
    assert all(p.quantity < 1 for p in positions)
    assert not made_by_the_pipeline(Topics.RISK_BREACHES)
    # the market view refused the forged prices and books: its prices and books are the real ones
    assert view["refused_unsigned"] == 2 * len(VIEW_INPUTS)
    assert Decimal(view["books"]["binance:BTC/USDT"]["bid"]) == Decimal(60000)
    assert Decimal(view["prices"].get("BTC/USDT", "60000")) > Decimal(59000)


@pytest.fixture
def own_keyring(tmp_path: Path) -> Iterator[Path]:
    """A keyring of this test's own, for this process and the worker it starts (the stack's stays as is)."""
    path = tmp_path / "signing-keys.json"
    write_keyring(path, new_keyring())
    KEYRING.reset(path)
    yield path
    KEYRING.reset()


async def test_a_key_is_rotated_under_a_running_worker_and_the_retired_key_is_refused(
    pipeline_topics: Settings, tmp_path: Path, own_keyring: Path
) -> None:
    settings = pipeline_topics
    config = tmp_path / "trading.toml"
    config.write_text("")
    port = free_port()
    log = tmp_path / "worker.log"
    old = read_keyring(own_keyring).active
    env = worker_env(settings, config, port) | {KEYRING_VARIABLE: str(own_keyring)}
    watched = names(settings, Topics.ORDERS_EXECUTED, Topics.ORDERS_REQUESTED.dead_letter)  # type: ignore[arg-type]
    with start_worker(env, log):
        await publish_events(settings, [quote("binance", "BTC/USDT", "60000", "60001", "5", "5")])
        await wait_for_books(port, {"binance:BTC/USDT"})
        async with read_topics(settings, watched) as output:

            def executed() -> dict[str, Any]:
                records = output.records.get(watched[0], [])
                return {CODEC.decode(r.value or b"").order_id: r for r in records}  # type: ignore[attr-defined]

            before = [order(f"before-{i}-{uuid.uuid4().hex[:4]}") for i in range(5)]
            await publish_events(settings, before)
            # step 1: a new key every process accepts; step 2, once they have reread the file: it signs
            ring, new = read_keyring(own_keyring).with_new_key()
            write_keyring(own_keyring, ring)
            await asyncio.sleep(3 * RELOAD_SECONDS)
            write_keyring(own_keyring, ring.activated(new))
            await asyncio.sleep(3 * RELOAD_SECONDS)
            after = [order(f"after-{i}-{uuid.uuid4().hex[:4]}") for i in range(5)]
            await publish_events(settings, after)
            # an event signed with the old key after the switch is still good (two keys valid at once)
            late = order(f"late-{uuid.uuid4().hex[:4]}")
            late_value = CODEC.encode(late)
            old_signature = old.encode() + b":" + ring.sign(late_value).partition(b":")[2]
            assert ring.activated(old).sign(late_value) == old_signature
            await _send(settings, late_value, old_signature)
            wanted = {o.order_id for o in (*before, *after, late)}
            await wait_until(lambda: wanted <= set(executed()), 60, lambda: worker_log_tail(log))
            # step 3: the old key retired; what is signed with it from now on is refused
            write_keyring(own_keyring, ring.activated(new).retired(old))
            await asyncio.sleep(3 * RELOAD_SECONDS)
            stale = order(f"stale-{uuid.uuid4().hex[:4]}")
            stale_value = CODEC.encode(stale)
            await _send(settings, stale_value, ring.activated(old).sign(stale_value))
            await wait_until(
                lambda: bool(output.records.get(watched[1])), 60, lambda: worker_log_tail(log)
            )
            found = executed()
            (letter,) = [DeadLetter.from_headers(r.headers) for r in output.records[watched[1]]]
    assert stale.order_id not in found
    assert letter.reason is DeadLetterReason.BAD_SIGNATURE
    assert f"unknown signing key {old!r}" in letter.error
    # the worker signed with the old key before the switch and with the new one after it, never restarted
    signers = {
        order_id: signature_in(record.headers).partition(b":")[0].decode()  # type: ignore[union-attr]
        for order_id, record in found.items()
    }
    assert {signers[o.order_id] for o in before} <= {old, new}
    assert {signers[o.order_id] for o in after} == {new}
    assert os.environ.get(KEYRING_VARIABLE) is None  # the worker's keyring came through its own environment


async def _send(settings: Settings, value: bytes, signature: bytes) -> None:
    producer = SignedProducer(**kafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix),
            value,
            key=ACCOUNT.encode(),
            headers=[(SIGNATURE_HEADER, signature)],
        )
    finally:
        await producer.stop()

