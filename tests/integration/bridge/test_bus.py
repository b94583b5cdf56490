"""The bus against the real Redis: reclaim from a dead consumer, poison messages, idempotent publish."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from bench.flows import FlowGenerator
from bridge.bus import StreamBus
from bridge.consumer import ConsumerConfig, Delivery, StreamConsumer, event_consumer
from bridge.dead_letter import StreamDeadLetter
from schemas import CODEC, Event, OrderRequested
from schemas.signing import keyring
from topics import Streams
from topics.dead_letter import DeadLetterReason

pytestmark = pytest.mark.integration

STREAM = Streams.ORDER_REQUESTS
GROUP = "workflows"


def orders(count: int) -> list[OrderRequested]:
    flows = FlowGenerator(seed=5).events(count * 8)
    return [event for event in flows if isinstance(event, OrderRequested)][:count]


async def run_until(consumer: StreamConsumer[Any], done: Any, seconds: float = 20) -> None:
    """Step `consumer` until `done()`; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        while not done():
            await consumer.step()


async def test_entries_of_a_consumer_killed_before_ack_are_reclaimed_and_handled_once(bus: StreamBus) -> None:
    sent = orders(40)
    await bus.publish_many(STREAM, sent)
    started = asyncio.Event()

    async def hangs(delivery: Delivery[Event]) -> None:
        started.set()
        await asyncio.Event().wait()  # killed before it returns, so before XACK

    fast = ConsumerConfig(batch=25, block_ms=100, claim_idle_ms=300)
    doomed = event_consumer(bus, STREAM, GROUP, hangs, fast)
    await bus.ensure_group(STREAM, GROUP)
    task = asyncio.create_task(doomed.step())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    pending: Any = await bus.client.xpending(bus.name(STREAM), GROUP)
    assert pending["pending"] == 25  # read by the dead consumer, never acknowledged

    handled: Counter[Any] = Counter()

    async def handle(delivery: Delivery[Event]) -> None:
        handled[delivery.value.event_id] += 1

    rescuer = event_consumer(bus, STREAM, GROUP, handle, fast)
    await run_until(rescuer, lambda: len(handled) == len(sent))
    assert rescuer.stats.claimed == 25
    await asyncio.sleep(0.4)  # past the idle timeout: anything still pending would be claimed again now
    for _ in range(3):
        await rescuer.step()
    assert handled == Counter({event.event_id: 1 for event in sent})
    assert (await bus.client.xpending(bus.name(STREAM), GROUP))["pending"] == 0


async def test_poison_message_is_dead_lettered_after_max_deliveries_and_the_rest_handled(
    bus: StreamBus,
) -> None:
    good_before, poison, good_after = orders(3)[0:1], orders(3)[1], orders(3)[2:]
    await bus.publish_many(STREAM, [*good_before, poison])
    undecodable: dict[Any, Any] = {b"event_id": b"x", b"data": b"{not json"}
    undecodable_id: Any = await bus.client.xadd(
        bus.name(STREAM), {**undecodable, b"signature": keyring().sign(b"{not json")}
    )
    forged_id: Any = await bus.client.xadd(bus.name(STREAM), {b"data": CODEC.encode(orders(1)[0])})
    await bus.publish_many(STREAM, good_after)
    calls: Counter[Any] = Counter()

    async def handle(delivery: Delivery[Event]) -> None:
        calls[delivery.value.event_id] += 1
        if delivery.value.event_id == poison.event_id:
            raise RuntimeError(f"cannot handle {delivery.value.event_id}")

    consumer = event_consumer(
        bus, STREAM, GROUP, handle, ConsumerConfig(batch=10, block_ms=50, claim_idle_ms=150, max_deliveries=3)
    )
    await bus.ensure_group(STREAM, GROUP)
    await run_until(consumer, lambda: consumer.stats.dead_letters == 3)

    assert calls == Counter({e.event_id: 1 for e in [*good_before, *good_after]} | {poison.event_id: 3})
    entries: Any = await bus.client.xrange(STREAM.dead_letter_name(bus.prefix))
    letters = [(fields, StreamDeadLetter.from_entry(fields)) for _, fields in entries]
    assert [letter.reason for _, letter in letters] == [
        DeadLetterReason.UNDECODABLE,  # at once, on its first delivery
        DeadLetterReason.BAD_SIGNATURE,  # an unsigned entry: never handled
        DeadLetterReason.PROCESSING_FAILED,
    ]
    assert letters[0][1].entry_id == undecodable_id.decode()
    assert letters[0][1].deliveries == 1
    assert letters[1][1].entry_id == forged_id.decode()
    assert letters[1][1].error == "no signature"
    fields, letter = letters[2]
    assert fields[b"event_id"] == str(poison.event_id).encode()
    assert letter.deliveries == 3
    assert letter.error == f"RuntimeError: cannot handle {poison.event_id}"
    assert letter.source_stream == bus.name(STREAM)
    assert (await bus.client.xpending(bus.name(STREAM), GROUP))["pending"] == 0


async def test_an_entry_whose_consumers_keep_dying_is_dead_lettered_by_the_claimer(bus: StreamBus) -> None:
    [event] = orders(1)
    await bus.publish(STREAM, event)
    await bus.ensure_group(STREAM, GROUP)
    name = bus.name(STREAM)
    await bus.client.xreadgroup(GROUP, "dies-1", {name: ">"}, count=1)
    for dying in ("dies-2", "dies-3"):  # each claims it and dies before acknowledging
        await asyncio.sleep(0.06)
        await bus.client.xautoclaim(name, GROUP, dying, min_idle_time=50, start_id="0-0")

    async def never_called(delivery: Delivery[Event]) -> None:
        raise AssertionError("an entry past max_deliveries is not handled again")

    consumer = event_consumer(
        bus, STREAM, GROUP, never_called, ConsumerConfig(claim_idle_ms=50, max_deliveries=3)
    )
    await asyncio.sleep(0.06)
    await run_until(consumer, lambda: consumer.stats.dead_letters == 1)
    dead: Any = await bus.client.xrange(STREAM.dead_letter_name(bus.prefix))
    [(_, fields)] = dead
    letter = StreamDeadLetter.from_entry(fields)
    assert (letter.deliveries, letter.reason) == (4, DeadLetterReason.PROCESSING_FAILED)
    assert "not acknowledged after 3 deliveries" in letter.error


async def test_publish_is_idempotent_on_event_id(bus: StreamBus) -> None:
    sent = orders(30)
    first = await bus.publish_many(STREAM, sent[:20])
    again = await bus.publish_many(STREAM, sent[10:30])  # 10 repeats, 10 new
    assert all(first)
    assert again[:10] == [None] * 10
    assert all(again[10:])
    ids: Any = await bus.client.xrange(bus.name(STREAM))
    assert [fields[b"event_id"] for _, fields in ids] == [str(e.event_id).encode() for e in sent]
