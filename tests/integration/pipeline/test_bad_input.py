"""Garbage, wrong types and unknown events on every agent input land in dead-letter topics; the rest flows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from runtime.processes import free_port
from runtime.producer import publish_events
from runtime.settings import Settings
from schemas import CODEC, OrderExecuted, OrderRequested, TradeTick
from tests.integration.metrics import scrape_metrics, total
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import KafkaTopic

from .support import (
    PipelineOutput,
    names,
    publish_raw,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
    worker_log_tail,
)

pytestmark = pytest.mark.integration

# Who consumes each input topic: every one of them dead-letters a bad message on its own. (Without live
# venues nobody reads orders.validated and orders.routed: the order stage makes them.) With the paper
# matching engine on (the default) its stage reads every tick, and the order stage the executions.
CONSUMERS: dict[KafkaTopic, set[str]] = {
    Topics.MARKET_TICKS: {"market_data", "paper_venue"},
    Topics.ORDERS_REQUESTED: {"orders"},
    Topics.ORDERS_EXECUTED: {"portfolio", "orders"},
    Topics.POSITIONS: {"risk_monitor"},
}


def bad_messages(topic: KafkaTopic) -> dict[DeadLetterReason, bytes]:
    wrong_type = TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id="t-1",
        price=Decimal(1),
        quantity=Decimal(1),
        market_time="2024-08-08T23:54:00Z",
    )
    if topic is Topics.MARKET_TICKS:
        wrong_type = OrderRequested(  # type: ignore[assignment]
            order_id="o-1", account_id="a", symbol="BTC/USDT", side="buy", order_type="market", quantity=1
        )
    return {
        DeadLetterReason.UNDECODABLE: b"\x00\xff not json at all",
        DeadLetterReason.INVALID: orjson.dumps(
            {**orjson.loads(CODEC.encode(wrong_type)), "price": "abc", "quantity": "-5"}
        ),
        DeadLetterReason.UNEXPECTED_TYPE: CODEC.encode(wrong_type),
    }


UNKNOWN_EVENT = orjson.dumps({"event_type": "order.teleported", "version": 1, "order_id": "x"})


@pytest.fixture
async def worker_port(pipeline_topics: Settings, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    config = tmp_path / "trading.toml"
    config.write_text("")
    port = free_port()
    log = tmp_path / "worker.log"
    with start_worker(worker_env(pipeline_topics, config, port), log):
        yield port, log


async def test_bad_messages_are_dead_lettered_and_good_ones_still_flow(
    pipeline_topics: Settings, worker_port: tuple[int, Path]
) -> None:
    settings = pipeline_topics
    port, log = worker_port
    await publish_events(settings, [quote("binance", "BTC/USDT", "60000", "60001", "1", "0.5")])
    await wait_for_books(port, {"binance:BTC/USDT"})
    sent: dict[tuple[str, DeadLetterReason], set[bytes]] = {}
    for topic in CONSUMERS:
        for reason, value in bad_messages(topic).items():
            await publish_raw(settings, topic, b"acct-bad", value)
            sent.setdefault((topic.full_name(settings.topic_prefix), reason), set()).add(value)
        await publish_raw(settings, topic, b"acct-bad", UNKNOWN_EVENT)
        sent[topic.full_name(settings.topic_prefix), DeadLetterReason.UNDECODABLE].add(UNKNOWN_EVENT)
    good = OrderRequested(
        order_id=f"good-{uuid.uuid4().hex[:8]}",
        account_id="acct-bad",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        quantity=Decimal("0.01"),
    )
    await publish_events(settings, [good])

    dead_letter_topics = [t.dead_letter for t in CONSUMERS if t.dead_letter is not None]
    expected = sum(4 * len(consumers) for consumers in CONSUMERS.values())
    async with read_topics(settings, names(settings, Topics.ORDERS_EXECUTED, *dead_letter_topics)) as output:

        def dead_letters(out: PipelineOutput) -> list[tuple[DeadLetter, bytes]]:
            return [
                (DeadLetter.from_headers(record.headers), record.value or b"")
                for topic, records in out.records.items()
                if topic.endswith(".dead-letter")
                for record in records
            ]

        await wait_until(
            lambda: (
                len(dead_letters(output)) >= expected
                and any(e.order_id == good.order_id for e in output.of_type(OrderExecuted))
            ),
            90,
            lambda: f"{len(dead_letters(output))} of {expected} dead letters; " + worker_log_tail(log),
        )
        found = dead_letters(output)

    assert len(found) == expected  # nothing dead-lettered twice, nothing good dead-lettered
    by_source: dict[str, set[str]] = {}
    for record, value in found:
        by_source.setdefault(record.source_topic, set()).add(record.consumer)
        key = (record.source_topic, record.reason)
        if value == UNKNOWN_EVENT:
            assert record.reason is DeadLetterReason.UNDECODABLE
            assert "order.teleported" in record.error
        else:
            assert value in sent[key], key  # the original bytes, untouched
        assert record.error
    assert by_source == {t.full_name(settings.topic_prefix): c for t, c in CONSUMERS.items()}

    # The worker's Prometheus metrics count the same: 4 bad messages per consumer of each topic.
    metrics = await scrape_metrics(port)
    for topic, consumers in CONSUMERS.items():
        assert total(metrics, "zvt_dead_letters_total", source=topic.name) == 4 * len(consumers), topic.name
        for consumer in consumers:
            assert metrics["zvt_events_total", (("consumer", consumer), ("outcome", "dead_lettered"))] >= 4
    assert metrics["zvt_events_total", (("consumer", "portfolio"), ("outcome", "handled"))] >= 1
