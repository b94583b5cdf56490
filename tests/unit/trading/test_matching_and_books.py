"""Paper matching against a book top, taker fees, and the book history's as-of lookup."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.primitives import Side, TimeInForce
from tests.unit.trading.builders import T0, D, ms, top
from trading.books import BookHistory, BookTop
from trading.matching import Match, match_against_top, taker_fee

BOOK = top(bid="99.5", bid_size="2", ask="100.5", ask_size="0.3")


def test_buy_takes_the_ask() -> None:
    assert match_against_top(Side.BUY, D("0.2"), None, BOOK) == Match(quantity=D("0.2"), price=D("100.5"))


def test_sell_takes_the_bid() -> None:
    assert match_against_top(Side.SELL, D("1.5"), None, BOOK) == Match(quantity=D("1.5"), price=D("99.5"))


def test_partial_size_fills_what_the_top_shows() -> None:
    assert match_against_top(Side.BUY, D(1), None, BOOK) == Match(quantity=D("0.3"), price=D("100.5"))
    assert match_against_top(Side.SELL, D(5), None, BOOK) == Match(quantity=D(2), price=D("99.5"))


@pytest.mark.parametrize(
    ("side", "limit", "fills"),
    [
        (Side.BUY, "100.49", False),
        (Side.BUY, "100.5", True),
        (Side.BUY, "101", True),
        (Side.SELL, "99.51", False),
        (Side.SELL, "99.5", True),
        (Side.SELL, "98", True),
    ],
)
def test_limit_price(side: Side, limit: str, fills: bool) -> None:
    match = match_against_top(side, D("0.1"), D(limit), BOOK)
    if fills:
        assert match is not None
        assert match.price == (
            D("100.5") if side is Side.BUY else D("99.5")
        )  # the book's price, not the limit
    else:
        assert match is None


def test_fok_needs_the_whole_size() -> None:
    assert match_against_top(Side.BUY, D("0.31"), None, BOOK, TimeInForce.FOK) is None
    assert match_against_top(Side.BUY, D("0.3"), None, BOOK, TimeInForce.FOK) == Match(D("0.3"), D("100.5"))
    # IOC (the default) and GTC take what there is
    assert match_against_top(Side.BUY, D("0.31"), None, BOOK, TimeInForce.GTC) == Match(D("0.3"), D("100.5"))


@pytest.mark.parametrize(
    "book",
    [
        pytest.param(top(ask=None, ask_size="0"), id="no ask"),
        pytest.param(top(ask="100", ask_size="0"), id="zero size"),
    ],
)
def test_empty_side_gives_nothing(book: BookTop) -> None:
    assert match_against_top(Side.BUY, D(1), None, book) is None
    assert match_against_top(Side.SELL, D(1), None, book) is not None  # the bid side is still there


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "fee"),
    [
        ("0.5", "60000", "0.001", "30.0000"),  # 0.5 x 60000 x 0.001
        ("0.00012345", "61234.56", "0.0026", "0.0196544567232"),  # 7.559406432 x 0.0026
        ("1", "100", "0", "0"),
        ("1", "100", "-0.0001", "0"),  # a rebate is no fee here
    ],
)
def test_taker_fee_is_exact(quantity: str, price: str, rate: str, fee: str) -> None:
    result = taker_fee(D(quantity), D(price), D(rate))
    assert result == D(fee)


def test_mid() -> None:
    assert BOOK.mid == D(100)
    assert top(bid=None).mid is None


def history(*offsets_ms: int, depth: int = 256) -> BookHistory:
    """A history with one top per offset; the ask price is 100 + offset / 1000 to tell them apart."""
    books = BookHistory(depth)
    for offset in offsets_ms:
        books.add(top(ask=str(100 + Decimal(offset) / 1000), at=T0 + ms(offset)))
    return books


def ask_at(books: BookHistory, offset_ms: int) -> Decimal | None:
    found = books.as_of(T0 + ms(offset_ms))
    return None if found is None else found.ask_price


def test_as_of_before_the_first_top_is_none() -> None:
    books = history(0, 100, 200)
    assert ask_at(books, -1) is None
    assert BookHistory().as_of(T0) is None
    assert BookHistory().latest is None


def test_as_of_picks_the_last_top_at_or_before() -> None:
    books = history(0, 100, 200)
    assert ask_at(books, 0) == D(100)
    assert ask_at(books, 99) == D(100)
    assert ask_at(books, 100) == D("100.1")  # at exactly its time, a top is in force
    assert ask_at(books, 150) == D("100.1")
    assert ask_at(books, 200) == D("100.2")
    assert ask_at(books, 10_000) == D("100.2")
    assert books.latest is not None
    assert books.latest.ask_price == D("100.2")


def test_late_insert_keeps_history_sorted() -> None:
    books = history(0, 200, 100, 300)  # 100 arrives after 200
    assert len(books) == 4
    assert ask_at(books, 150) == D("100.1")
    assert ask_at(books, 250) == D("100.2")
    assert books.latest is not None
    assert books.latest.market_time == T0 + ms(300)


def test_depth_is_bounded_oldest_first() -> None:
    books = history(0, 100, 200, 300, depth=3)
    assert len(books) == 3
    assert ask_at(books, 50) is None  # the top at 0 was dropped
    assert ask_at(books, 150) == D("100.1")


def test_late_insert_older_than_the_window_is_dropped_when_full() -> None:
    books = history(100, 200, 300, depth=3)
    books.add(top(ask="1", at=T0))
    assert len(books) == 3
    assert ask_at(books, 50) is None
    assert ask_at(books, 300) == D("100.3")


def test_late_insert_within_a_full_window_drops_the_oldest() -> None:
    books = history(100, 200, 300, depth=3)
    books.add(top(ask="1", at=T0 + ms(250)))
    assert len(books) == 3
    assert ask_at(books, 150) is None  # the top at 100 made room
    assert ask_at(books, 260) == D(1)
    assert ask_at(books, 300) == D("100.3")


def test_a_price_history_answers_as_of_a_market_time_whatever_came_since() -> None:
    """What risk judges an order by: the price at the order's market time, not the newest one."""
    from schemas import PriceUpdated
    from trading.books import MarketHistory

    prices: MarketHistory[PriceUpdated] = MarketHistory(4)
    for offset_ms, value in ((0, "100"), (20, "101"), (10, "99"), (30, "105")):  # one arrives late
        prices.add(
            PriceUpdated(
                venue="binance", symbol="BTC/USDT", price=Decimal(value), market_time=T0 + ms(offset_ms)
            )
        )
    found = prices.as_of(T0 + ms(15))
    assert found is not None
    assert found.price == Decimal(99)
    assert prices.latest is not None
    assert prices.latest.price == Decimal(105)
    assert prices.as_of(T0 - ms(1)) is None
