"""`zvt replay-market` on the bundled sample: every row arrives once, per symbol in the files' time order."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from marketreplay.readers import Tick, read_file
from marketreplay.timeline import merge_by_market_time
from runtime.clients import kafka_options
from runtime.settings import Settings
from schemas import CODEC, QuoteTick, TradeTick
from topics import Topics
from zvt.replay_market import replay_market

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
FILES = sorted(p for p in SAMPLE.iterdir() if p.suffix in (".csv", ".parquet"))


async def read_topic(settings: Settings) -> list[Tick]:
    """Every record of the tick topic, all partitions, up to the end offsets at the time of the call."""
    name = Topics.MARKET_TICKS.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(Topics.MARKET_TICKS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ticks: list[Tick] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    tick = CODEC.decode(record.value)
                    assert isinstance(tick, TradeTick | QuoteTick)
                    assert record.key == tick.symbol.encode()
                    ticks.append(tick)
        return ticks
    finally:
        await consumer.stop()


def identity(tick: Tick) -> tuple[object, ...]:
    """What a tick says about the market (its event id is new on every read of a file)."""
    return tuple(tick.model_dump(exclude={"event_id", "timestamp", "correlation_id"}).values())


def file_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open() as handle:
        return sum(1 for _ in handle) - 1


async def test_the_sample_arrives_complete_and_in_time_order_per_symbol(kafka_topics: Settings) -> None:
    stats = await replay_market(kafka_topics, FILES, None)
    received = await read_topic(kafka_topics)

    assert len(received) == stats.events == sum(file_rows(path) for path in FILES)
    per_file = {
        path.name: Counter((t.venue, t.symbol, t.event_type) for t in read_file(path)) for path in FILES
    }
    assert Counter((t.venue, t.symbol, t.event_type) for t in received) == sum(per_file.values(), Counter())
    assert per_file["kraken_xbtusdt_trades_20251110.csv"] == {("kraken", "BTC/USDT", "trade.tick"): 1000}
    assert per_file["binance_spot_btcusdt_trades_20210108.parquet"] == {
        ("binance", "BTC/USDT", "trade.tick"): 2001
    }
    assert len(FILES) == 9
    assert {t.venue for t in received} == {"binance", "kraken", "bitmex", "huobi"}

    expected: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for tick in merge_by_market_time(read_file(path) for path in FILES):
        expected[tick.symbol].append(identity(tick))
    got: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for tick in received:
        got[tick.symbol].append(identity(tick))
    assert got == expected
    for symbol in got:
        times = [t.market_time for t in received if t.symbol == symbol]
        assert times == sorted(times), symbol


async def test_speed_two_replays_at_twice_the_recorded_pace(kafka_topics: Settings) -> None:
    files = [SAMPLE / "binance_spot_ethusdt_trades_20240808T235414Z_60s.csv"]
    first = [t.market_time for t in read_file(files[0])][:40]
    span = (first[-1] - first[0]).total_seconds()
    assert span > 0.5  # the slice must take measurable time to be a test of pacing
    stats = await replay_market(kafka_topics, files, 2.0, limit=40, max_gap=timedelta(seconds=60))
    assert stats.events == 40
    assert span / 2 - 0.05 <= stats.wall_seconds <= span / 2 + 1.0


def test_the_command_prints_its_summary(kafka_topics: Settings) -> None:
    env = os.environ | {"ZVT_TOPIC_PREFIX": kafka_topics.topic_prefix, "COLUMNS": "200"}
    files = [
        str(SAMPLE / "tardis_bitmex_trades_XBTUSD_20200301.csv"),
        str(SAMPLE / "kraken_xbtusdt_trades_20251110.csv"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "zvt", "replay-market", *files, "--limit", "25"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "bitmex" in done.stdout
    assert "BTC/USD:BTC" in done.stdout
    assert "25 events" in done.stdout
    assert Topics.MARKET_TICKS.full_name(kafka_topics.topic_prefix) in done.stdout
