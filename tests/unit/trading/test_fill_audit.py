"""The fill audit on small hand-made recordings (binance CSVs, read by the replay's readers): good fills
pass, and each kind of bad fill is caught with its rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading.fill_audit import AuditRules, RecordedMarket, Violation, audit_fills
from zvt.audit import fills_from_report, recorded_market

T0_NS = 1_723_161_254_000_000_000  # 2024-08-08T23:54:14Z
LATENCY = timedelta(milliseconds=50)
RULES = AuditRules(max_book_age=timedelta(seconds=10))


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(T0_NS / 1e9, UTC) + timedelta(milliseconds=ms)


def ns(ms: int) -> int:
    return T0_NS + ms * 1_000_000


@pytest.fixture
def market(tmp_path: Path) -> RecordedMarket:
    """Books at 0 ms (100/101, 2 x 1.5) and 30 s (a wider one); trades at 500 ms (99.5 x 0.3, 99 x 0.2)
    and 1 s (100.5 x 1, at the resting sell's price)."""
    books = tmp_path / "binance_spot_btcusdt_bookticker.csv"
    books.write_text(
        "local_ts_ns,update_id,symbol,bid_price,bid_qty,ask_price,ask_qty\n"
        f"{ns(0)},1,BTCUSDT,100.00000000,2.00000000,101.00000000,1.50000000\n"
        f"{ns(30_000)},2,BTCUSDT,98.00000000,1.00000000,102.00000000,1.00000000\n"
    )
    trades = tmp_path / "binance_spot_btcusdt_trades.csv"
    trades.write_text(
        "local_ts_ns,event_time_ms,trade_time_ms,symbol,trade_id,price,qty,is_buyer_maker,aggressor_side\n"
        f"{ns(500)},1,1,BTCUSDT,11,99.50000000,0.30000000,true,sell\n"
        f"{ns(500)},1,1,BTCUSDT,12,99.00000000,0.20000000,true,sell\n"
        f"{ns(1000)},2,2,BTCUSDT,13,100.50000000,1.00000000,false,buy\n"
    )
    return recorded_market([books, trades])


def fill(side: str, price: str, quantity: str, **fields: Any) -> dict[str, Any]:
    """A fill as session.json lists it: a taker whose order was decided at 0 ms unless told otherwise."""
    return {
        "order_id": fields.pop("order_id", "ord-1"),
        "venue": "binance",
        "symbol": "BTC/USDT",
        "side": side,
        "price": price,
        "quantity": quantity,
        "order_market_time": at(0).isoformat(),
        **fields,
    }


def violations(market: RecordedMarket, *fills: dict[str, Any]) -> list[Violation]:
    return audit_fills(fills_from_report({"fills": list(fills)}, LATENCY), market, RULES)


def rules_of(found: list[Violation]) -> list[str]:
    return [v.rule for v in found]


def test_taker_fills_at_the_book_in_force_pass(market: RecordedMarket) -> None:
    good = [
        fill("buy", "101", "1.5"),  # the whole ask
        fill("sell", "100", "0.5", order_id="ord-2"),
        fill("buy", "102", "1", order_id="ord-3", order_market_time=at(29_960).isoformat()),  # 30 s book
    ]
    assert violations(market, *good) == []


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (fill("buy", "100.9", "0.1"), "price_not_on_book"),  # better than the ask
        (fill("sell", "101", "0.1"), "price_not_on_book"),  # a sell at the ask
        (fill("buy", "101", "1.6"), "size_above_book"),  # more than the ask's 1.5
        # Decided at 29.9 s: arrives at 29.95 s, when the book of 0 ms is 29.95 s old.
        (fill("buy", "101", "0.1", order_market_time=at(29_900).isoformat()), "stale_book"),
        # The book of 30 s is not in force yet at 29.95 s: its price is from the future.
        (fill("buy", "102", "0.1", order_market_time=at(29_900).isoformat()), "price_not_on_book"),
        (fill("buy", "101", "0.1", order_market_time=at(-100).isoformat()), "no_book"),
        (fill("buy", "101", "0.1", order_market_time=None), "no_market_time"),
    ],
)
def test_a_bad_taker_fill_is_caught(market: RecordedMarket, bad: dict[str, Any], rule: str) -> None:
    assert rule in rules_of(violations(market, bad))


def maker(side: str, price: str, quantity: str, ms: int, **fields: Any) -> dict[str, Any]:
    return fill(side, price, quantity, liquidity="maker", market_time=at(ms).isoformat(), **fields)


def test_maker_fills_where_trades_went_through_pass(market: RecordedMarket) -> None:
    good = [
        maker("buy", "100", "0.5", 500, limit_price="100"),  # both trades of 500 ms went under 100
        maker("sell", "100.4", "1", 1000, order_id="ord-2"),  # the trade of 1 s at 100.5, all of it
    ]
    assert violations(market, *good) == []


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (maker("buy", "99.5", "0.1", 500, limit_price="99.6"), "not_at_limit"),
        (maker("buy", "99", "0.1", 500), "nothing_traded_through"),  # 99 traded at, not through
        (maker("buy", "99.4", "0.3", 500), "size_above_traded"),  # only the 0.2 at 99 went under 99.4
        (maker("sell", "100.5", "0.1", 1000), "nothing_traded_through"),  # at its price, no touch rule
        (maker("buy", "100", "0.1", 700), "nothing_traded_through"),  # no trade at that time
    ],
)
def test_a_bad_maker_fill_is_caught(market: RecordedMarket, bad: dict[str, Any], rule: str) -> None:
    assert rules_of(violations(market, bad)) == [rule]


def test_fill_at_touch_lets_a_trade_at_the_price_fill(market: RecordedMarket) -> None:
    fills = fills_from_report({"fills": [maker("sell", "100.5", "0.1", 1000)]}, LATENCY)
    assert audit_fills(fills, market, AuditRules(fill_at_touch=True)) == []


def test_two_resting_orders_cannot_both_take_the_same_trade(market: RecordedMarket) -> None:
    one = maker("buy", "100", "0.4", 500)
    other = maker("buy", "99.8", "0.3", 500, order_id="ord-2")
    assert rules_of(violations(market, one)) == []
    assert rules_of(violations(market, other)) == []
    assert rules_of(violations(market, one, other)) == ["consumed_twice"]  # 0.7 of the 0.5 traded


def test_a_quote_crossing_a_resting_order_fills_it_up_to_its_size(market: RecordedMarket) -> None:
    # A resting buy at 101 when the book of 0 ms shows the ask at 101 (1.5).
    assert violations(market, maker("buy", "101", "1.5", 0)) == []
    assert rules_of(violations(market, maker("buy", "101", "1.6", 0))) == ["size_above_traded"]


def test_decimals_are_compared_exactly(market: RecordedMarket) -> None:
    """Prices from the CSVs (`101.00000000`) and from the report (`101`) are the same Decimal value."""
    (found,) = violations(market, fill("buy", "101.000000001", "0.1"))
    assert found.rule == "price_not_on_book"
    assert Decimal("101.00000000") == Decimal("101")
