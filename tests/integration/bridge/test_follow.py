"""Reading answer streams from a recorded position: only the order's own entries, in order, and the same
entries again on a second read (what a retried workflow step relies on)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from bridge.bus import StreamBus
from bridge.follow import START, collect, noted_positions, positions
from schemas import Event, OrderExecuted, OrderRejected, OrderStatus, RejectReason
from tests.unit.trading.builders import executed, request
from topics.registry import Streams

pytestmark = pytest.mark.integration

STREAMS = (Streams.ORDER_EXECUTIONS,)


def of(order_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body.get("order_id") == order_id


def terminal(found: Sequence[Event]) -> bool:
    return any(
        isinstance(e, OrderRejected) or (isinstance(e, OrderExecuted) and e.status is OrderStatus.FILLED)
        for e in found
    )


async def test_reads_from_the_position_only_this_orders_events_and_again_on_retry(bus: StreamBus) -> None:
    assert await positions(bus, STREAMS) == {Streams.ORDER_EXECUTIONS.name: START}
    old = executed(quantity="1", price="10", cumulative="1", remaining="0", status=OrderStatus.FILLED,
                   order_id="a", fill_id="old")  # fmt: skip
    await bus.publish(Streams.ORDER_EXECUTIONS, old)  # before the position: never read
    since = await positions(bus, STREAMS)
    ours = [
        executed(quantity="1", price="10", cumulative="1", remaining="1", status=OrderStatus.PARTIALLY_FILLED,
                 order_id="a", fill_id="f1"),
        executed(quantity="1", price="11", cumulative="2", remaining="0", status=OrderStatus.FILLED,
                 order_id="a", fill_id="f2"),
    ]  # fmt: skip
    other = OrderRejected.for_order(request(order_id="b"), RejectReason.NO_LIQUIDITY, "empty")

    async def answer() -> None:
        await asyncio.sleep(0.3)  # the reader is already blocked in XREAD
        await bus.publish_many(Streams.ORDER_EXECUTIONS, [ours[0], other, ours[1]])

    answering = asyncio.create_task(answer())
    async with asyncio.timeout(10):
        found = await collect(bus, STREAMS, since, of("a"), terminal, block_ms=100)
    await answering
    assert [e.event_id for e in found] == [e.event_id for e in ours]
    async with asyncio.timeout(10):
        again = await collect(bus, STREAMS, since, of("a"), terminal, block_ms=100)
    assert again == found
    async with asyncio.timeout(10):
        rejected = await collect(bus, STREAMS, since, of("b"), terminal, block_ms=100)
    assert rejected == [other]
    assert isinstance(found[1], OrderExecuted)
    assert found[1].fill_quantity == Decimal("1")


async def test_positions_noted_under_a_key_are_the_first_ones_for_every_later_attempt(bus: StreamBus) -> None:
    both = (Streams.ORDER_ROUTES, Streams.ORDER_EXECUTIONS)
    key = f"{bus.prefix}zvt.place_order.positions:test"
    first = await noted_positions(bus, both, key, keep_seconds=60)
    assert first == await positions(bus, both)  # both streams, in one round trip
    fill = executed(quantity="1", price="10", cumulative="1", remaining="0", status=OrderStatus.FILLED,
                    order_id="n", fill_id="n1")  # fmt: skip
    await bus.publish(Streams.ORDER_EXECUTIONS, fill)  # the first attempt's answer
    again = await noted_positions(bus, both, key, keep_seconds=60)  # a retried attempt
    assert again == first != await positions(bus, both)
    async with asyncio.timeout(10):
        found = await collect(bus, both, again, of("n"), terminal, block_ms=100)
    assert [e.event_id for e in found] == [fill.event_id]
    assert 0 < await bus.client.ttl(key) <= 60
