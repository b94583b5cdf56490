"""The replay summary counts trades and quotes per venue and symbol over their market time span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from marketreplay.summary import Line, ReplayStats
from schemas import QuoteTick, TradeTick

T0 = datetime(2024, 8, 8, tzinfo=UTC)


def test_counts_span_and_rate() -> None:
    stats = ReplayStats()
    for seconds, venue in [(0, "binance"), (5, "kraken"), (2, "binance")]:
        stats.add(
            TradeTick(venue=venue, symbol="BTC/USDT", trade_id="1", price=Decimal(1), quantity=Decimal(1),
                      market_time=T0 + timedelta(seconds=seconds))
        )  # fmt: skip
    stats.add(
        QuoteTick(venue="binance", symbol="BTC/USDT", bid_price=Decimal(1), bid_size=Decimal(1),
                  ask_price=Decimal(2), ask_size=Decimal(1), market_time=T0 + timedelta(seconds=1))
    )  # fmt: skip
    stats.wall_seconds = 2.0
    assert stats.lines() == [
        Line("binance", "BTC/USDT", 2, 1, T0, T0 + timedelta(seconds=2)),
        Line("kraken", "BTC/USDT", 1, 0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5)),
    ]
    assert stats.events == 4
    assert stats.span == timedelta(seconds=5)
    assert stats.rate == 2.0
