"""A moving-average crossover through the real worker on real Kafka: quotes in, its order out, filled;
and its state carried over a kill -9 by the changelog."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from runtime.clients import kafka_options
from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import CODEC, OrderExecuted, OrderRejected, OrderRequested, OrderStatus, QuoteTick
from strategies.runner import VenueMark
from topics import StateChangelogs, Topics
from topics.registry import KafkaTopic

from .support import (
    names,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

STRATEGIES = """
[[strategies]]
id = "ma-it"
kind = "ma_crossover"
account = "acct-ma"
symbols = ["BTC/USDT"]
venue = "binance"
[strategies.parameters]
fast = 2
slow = 3
quantity = "0.01"
"""

# Mids 60000.5, 59990.5, 59980.5, 59990.5: fast below slow from the first full window (no order);
# 60010.5: fast 60000.5 > slow 59993.83, the crossing: buy 0.01, filled at that quote's ask, 60011.
# The last quote keeps fast above slow: no second order.
BIDS = ["60000", "59990", "59980", "59990", "60010", "60020"]
CROSSING = 4


def quotes(start: datetime) -> list[QuoteTick]:
    return [
        QuoteTick(
            venue="binance",
            symbol="BTC/USDT",
            bid_price=Decimal(bid),
            ask_price=Decimal(bid) + 1,
            bid_size=Decimal(1),
            ask_size=Decimal(1),
            market_time=start + timedelta(seconds=second),
        )
        for second, bid in enumerate(BIDS)
    ]


async def test_ma_crossover_orders_at_the_crossing_and_fills(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    (tmp_path / "trading.toml").write_text('[paper]\nlatency_ms = "50"\n')
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    port = free_port()
    log = tmp_path / "worker.log"
    env = worker_env(pipeline_topics, tmp_path / "trading.toml", port) | {
        "ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml")
    }
    ticks = quotes(datetime.now(UTC) - timedelta(seconds=30))
    topics = names(pipeline_topics, Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED, Topics.ORDERS_REJECTED)
    with start_worker(env, log):
        async with read_topics(pipeline_topics, topics) as output:
            await publish_events(pipeline_topics, ticks[:1])
            await wait_for_books(port, {"binance:BTC/USDT"})
            await publish_events(pipeline_topics, ticks[1:])

            def done() -> bool:
                return any(
                    isinstance(e, OrderRejected)
                    or (isinstance(e, OrderExecuted) and e.status is OrderStatus.FILLED)
                    for e in output.events.values()
                )

            await wait_until(done, 60, lambda: f"no outcome; worker log:\n{worker_log_tail(log)}")
            (request,) = output.of_type(OrderRequested)
            assert (request.strategy_id, request.account_id, request.symbol) == (
                "ma-it",
                "acct-ma",
                "BTC/USDT",
            )
            assert (request.side, request.quantity, request.venue) == ("buy", Decimal("0.01"), "binance")
            assert request.market_time == ticks[CROSSING].market_time
            assert output.of_type(OrderRejected) == []
            (fill,) = output.of_type(OrderExecuted)
            assert (fill.order_id, fill.strategy_id, fill.account_id) == (
                request.order_id,
                "ma-it",
                "acct-ma",
            )
            assert (fill.fill_quantity, fill.fill_price, fill.status) == (
                Decimal("0.01"),
                Decimal(60011),
                OrderStatus.FILLED,
            )
            assert output.copies == 0


# Strategies that never order (their slow window is never full) but change their slot on every price, so
# each price's slots go to the changelog together, many records at once.
FILLERS = "".join(
    f'\n[[strategies]]\nid = "fill-{i}"\nkind = "ma_crossover"\naccount = "acct-fill"\n'
    f'symbols = ["BTC/USDT"]\n[strategies.parameters]\nfast = 2\nslow = 50\nquantity = "0.01"\n'
    for i in range(40)
)


async def committed(settings: Settings, counts: dict[KafkaTopic, int]) -> None:
    """Wait until the worker group's committed offsets, summed over partitions, reach `counts`."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        async with asyncio.timeout(30):
            while True:
                offsets = await admin.list_consumer_group_offsets(f"{settings.topic_prefix}zvt-agents")
                done = {
                    topic: sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == name)
                    for topic, name in zip(counts, names(settings, *counts), strict=True)
                }
                if all(done[topic] >= count for topic, count in counts.items()):
                    return
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def test_slots_recovered_after_kill_9_carry_the_crossing_over_the_restart(
    pipeline_topics: Settings, tmp_path: Path
) -> None:
    """The crossing needs the window of prices seen before the kill: lost or misplaced slots lose the order.

    Each slot's changelog records are on the partition of the prices that changed it, the last one holding
    every price and the offset of the last.
    """
    (tmp_path / "trading.toml").write_text('[paper]\nlatency_ms = "50"\n')
    (tmp_path / "strategies.toml").write_text(STRATEGIES + FILLERS)
    port = free_port()
    log = tmp_path / "worker.log"
    env = worker_env(pipeline_topics, tmp_path / "trading.toml", port) | {
        "ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml")
    }
    ticks = quotes(datetime.now(UTC) - timedelta(seconds=30))
    changelog = StateChangelogs.STRATEGIES.full_name(pipeline_topics.topic_prefix)
    prices, requested, executed = names(
        pipeline_topics, Topics.PRICES, Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED
    )

    def slot(key: str) -> dict[str, Any] | None:
        """The last changelog value of `key`, or None before its first write."""
        found = [r for r in output.records[changelog] if r.key == key.encode()]
        return orjson.loads(found[-1].value or b"")["value"] if found else None

    def applied(key: str, count: int) -> bool:
        stored = slot(key)
        return stored is not None and len(stored["state"]["prices"]) == count

    with contextlib.ExitStack() as workers:
        worker = workers.enter_context(start_worker(env, log))
        await publish_events(pipeline_topics, ticks[:1])
        await wait_for_books(port, {"binance:BTC/USDT"})  # the worker made its changelog topics
        async with read_topics(pipeline_topics, [changelog, prices, requested, executed]) as output:
            await publish_events(pipeline_topics, ticks[1:CROSSING])
            await wait_until(
                lambda: applied("ma-it|BTC/USDT", 3) and applied("fill-39|BTC/USDT", CROSSING),
                60,
                lambda: f"slots not written; worker log:\n{worker_log_tail(log)}",
            )
            # Killed once its group committed past those ticks and prices (a redelivered tick would be
            # priced again, at a new offset): the slots live on in the changelog only.
            await committed(pipeline_topics, {Topics.MARKET_TICKS: CROSSING, Topics.PRICES: CROSSING})
            worker.kill()
            worker.wait()
            workers.enter_context(start_worker(env, log))
            await publish_events(pipeline_topics, ticks[CROSSING:])
            await wait_until(
                lambda: len(output.of_type(OrderExecuted)) == 1 and applied("fill-0|BTC/USDT", len(BIDS)),
                90,
                lambda: f"no fill after the restart; worker log:\n{worker_log_tail(log)}",
            )
    (request,) = output.of_type(OrderRequested)
    assert (request.strategy_id, request.side, request.market_time) == (
        "ma-it",
        "buy",
        ticks[CROSSING].market_time,
    )
    (price_partition,) = {r.partition for r in output.records[prices]}
    assert {r.partition for r in output.records[changelog]} == {price_partition}
    last_price_offset = max(r.offset for r in output.records[prices])
    for key in ("ma-it|BTC/USDT", "fill-0|BTC/USDT", "fill-39|BTC/USDT"):
        stored = slot(key)
        assert stored is not None
        assert stored["applied_offset"] == last_price_offset
    mids = [str(Decimal(bid) + Decimal("0.5")) for bid in BIDS]
    stored = slot("fill-7|BTC/USDT")
    assert stored is not None
    marks = stored.pop("venue_marks")
    assert stored == {
        "state": {"position": "0", "prices": mids, "above": None},
        "applied_offset": last_price_offset,
    }
    last_price = CODEC.decode(output.records[prices][-1].value or b"")
    assert VenueMark.model_validate(marks["binance"]) == VenueMark(
        market_time=ticks[-1].market_time, event_ids=(last_price.event_id,)
    )
