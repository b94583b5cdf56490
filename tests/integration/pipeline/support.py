"""Running the agent worker in tests, and reading what the pipeline produced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from runtime.clients import kafka_options
from runtime.processes import background_process
from runtime.producer import SignedProducer, publish_events
from runtime.settings import Settings
from schemas import CODEC, Event, EventDecodeError, OrderExecuted, OrderRejected, OrderStatus, QuoteTick
from topics.registry import KafkaTopic
from zvt.demo import wait_for_books as worker_books

TERMINAL_STATUSES = (OrderStatus.FILLED, OrderStatus.CANCELED)
# The risk limits of the pipeline tests' accounts (config/trading.toml's format): wide enough for any test
# order, with a 5 % price collar.
DEFAULT_LIMITS = """
[default_limits]
max_order_notional = "100000"
max_position_notional = "150000"
max_gross_exposure = "200000"
max_orders_per_window = 1000
rate_window_seconds = "1"
price_collar = "0.05"
"""
E = TypeVar("E", bound=Event)


def worker_env(settings: Settings, config: Path, web_port: int) -> dict[str, str]:
    return os.environ | {
        "ZVT_TOPIC_PREFIX": settings.topic_prefix,
        "ZVT_TRADING_CONFIG": str(config),
        "ZVT_WEB_PORT": str(web_port),
    }


def start_worker(
    env: dict[str, str], log_path: Path
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return background_process(
        [
            sys.executable,
            "-m",
            "zvt",
            "worker",
            "--loglevel",
            os.environ.get("ZVT_TEST_WORKER_LOGLEVEL", "warn"),
        ],
        env=env,
        stop_timeout=60,
        log_path=log_path,
    )


async def wait_for_books(web_port: int, books: set[str], within: float = 90) -> None:
    async with asyncio.timeout(within):
        await worker_books(web_port, books)


async def publish_raw(settings: Settings, topic: KafkaTopic, key: bytes, value: bytes) -> None:
    producer = SignedProducer(**kafka_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic.full_name(settings.topic_prefix), value, key=key)
    finally:
        await producer.stop()


def quote(venue: str, symbol: str, bid: str, ask: str, bid_size: str, ask_size: str) -> QuoteTick:
    from datetime import UTC, datetime

    return QuoteTick(
        venue=venue,
        symbol=symbol,
        bid_price=Decimal(bid),
        ask_price=Decimal(ask),
        bid_size=Decimal(bid_size),
        ask_size=Decimal(ask_size),
        market_time=datetime.now(UTC),
    )


async def keep_quoting(settings: Settings) -> None:
    """The book, again every half second: the paper engine's tick stream moves on past every command."""
    while True:
        await publish_events(settings, [quote("binance", "BTC/USDT", "60000", "60001", "1", "0.5")])
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def quoting(settings: Settings) -> AsyncIterator[None]:
    """`keep_quoting` for the duration of the block."""
    task = asyncio.create_task(keep_quoting(settings))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PipelineOutput:
    """Everything the pipeline published on the topics read, each event once (copies share an id)."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.copies = 0
        self.undecodable = 0
        self.records: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)

    def add(self, topic: str, record: ConsumerRecord[bytes, bytes]) -> None:
        self.records[topic].append(record)
        if topic.endswith(".dead-letter"):
            return
        try:
            event = CODEC.decode(record.value or b"")
        except EventDecodeError:
            self.undecodable += 1  # bad input a test published on purpose
            return
        if str(event.event_id) in self.events:
            self.copies += 1
        else:
            self.events[str(event.event_id)] = event

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.events.values() if isinstance(event, kind)]

    def terminal_by_order(self) -> dict[str, list[OrderRejected | OrderExecuted]]:
        found: dict[str, list[OrderRejected | OrderExecuted]] = defaultdict(list)
        for event in self.events.values():
            if isinstance(event, OrderRejected) or (
                isinstance(event, OrderExecuted) and event.status in TERMINAL_STATUSES
            ):
                found[event.order_id].append(event)
        return found


@contextlib.asynccontextmanager
async def read_topics(settings: Settings, topics: list[str]) -> AsyncIterator[PipelineOutput]:
    """Read `topics` (full names) from the beginning in the background for the duration of the block."""
    output = PipelineOutput()
    consumer = AIOKafkaConsumer(
        *topics, **kafka_options(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()

    async def pump() -> None:
        async for record in consumer:
            output.add(record.topic, record)

    task = asyncio.create_task(pump())
    try:
        yield output
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def wait_until(predicate: Callable[[], bool], within: float, describe: Callable[[], str]) -> None:
    """Poll `predicate` (it reads what the background reader collected) until true or `within` passes."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - the state lives in another task's collections
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s: {describe()}") from None


def names(settings: Settings, *topics: KafkaTopic) -> list[str]:
    return [topic.full_name(settings.topic_prefix) for topic in topics]


def worker_log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
