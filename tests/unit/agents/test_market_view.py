"""The worker's market view waits for the market of an order's time, so a replay fills the same however the
view's own consumer races the agents."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agents.market_view import MarketView
from schemas import BookLevel, OrderBookUpdated, PriceUpdated

T0 = datetime(2024, 8, 8, 23, 54, 14, tzinfo=UTC)
D = Decimal


def price(at: datetime, value: str = "61837.63") -> PriceUpdated:
    return PriceUpdated(venue="binance", symbol="BTC/USDT", price=D(value), market_time=at)


def book(at: datetime, ask: str = "61837.64") -> OrderBookUpdated:
    return OrderBookUpdated(
        venue="binance",
        symbol="BTC/USDT",
        bids=(BookLevel(price=D("61837.63"), size=D("3")),),
        asks=(BookLevel(price=D(ask), size=D("1.5")),),
        sequence=1,
        market_time=at,
    )


def arrive(view: MarketView, *events: object) -> None:
    """What the view's consumer does with one fetched batch."""
    for event in events:
        view.apply(event)
    view._batch_applied()


async def test_an_order_waits_for_the_price_it_was_decided_on() -> None:
    view = MarketView()
    arrive(view, price(T0))
    waiting = asyncio.create_task(
        view.wait_for(lambda: view.has_price("BTC/USDT", T0 + timedelta(seconds=1)), seconds=5)
    )
    await asyncio.sleep(0.01)
    assert not waiting.done()
    arrive(view, price(T0 + timedelta(seconds=1), "61900"))
    assert await waiting
    assert view.prices_at(T0 + timedelta(seconds=1)) == {"BTC/USDT": D("61900")}


async def test_the_book_in_force_is_known_once_a_top_of_that_time_or_later_arrived() -> None:
    view = MarketView()
    at = T0 + timedelta(milliseconds=50)
    arrive(view, book(T0, ask="61837.64"))
    assert not view.has_book_since("binance", "BTC/USDT", at)
    waiting = asyncio.create_task(view.wait_for(lambda: view.has_book_since("binance", "BTC/USDT", at), 5))
    arrive(view, book(at - timedelta(milliseconds=1), ask="61840"))  # still in force at `at`, but not final
    await asyncio.sleep(0.01)
    assert not waiting.done()
    arrive(view, book(at + timedelta(milliseconds=1), ask="61850"))
    assert await waiting
    top = view.book_as_of("binance", "BTC/USDT", at)
    assert top is not None
    assert top.ask_price == D("61840")


async def test_a_wait_gives_up_after_its_seconds_and_says_so() -> None:
    view = MarketView()
    arrive(view, book(T0))
    later = T0 + timedelta(milliseconds=50)
    assert not await view.wait_for(lambda: view.has_book_since("binance", "BTC/USDT", later), seconds=0.05)
    assert view.book_at("binance", "BTC/USDT", T0 + timedelta(hours=1)) == view.book("binance", "BTC/USDT")


def test_a_record_read_from_the_topic_gives_the_view_what_the_decoded_event_does() -> None:
    from schemas import CODEC
    from schemas.signing import keyring

    events = [price(T0, "61837.63"), book(T0, "61837.64"), price(T0 + timedelta(seconds=1), "61840.1")]
    decoded, raw = MarketView(), MarketView()
    ring = keyring()
    for event in events:
        decoded.apply(event)
        value = CODEC.encode(event)
        raw.apply_record(value, ring.sign(value))
    raw.apply_record(b"not json", ring.sign(b"not json"))
    assert raw.skipped == 1
    forged = CODEC.encode(price(T0 + timedelta(seconds=2), "1.5"))
    raw.apply_record(forged, None)
    raw.apply_record(forged, ring.sign(forged.replace(b"1.5", b"2.5")))
    assert raw.refused == 2
    assert raw.summary() == decoded.summary() | {"refused_unsigned": 2}
    assert raw.prices_at(T0) == decoded.prices_at(T0) == {"BTC/USDT": D("61837.63")}
    assert raw.book_at("binance", "BTC/USDT", T0) == decoded.book_at("binance", "BTC/USDT", T0)


def test_risk_values_an_order_at_the_reference_price_not_at_one_venues_latest_print() -> None:
    view = MarketView()
    for second in range(5):
        for venue, value in (("binance", "60000"), ("kraken", "60020"), ("okx", "59990")):
            view.apply(
                PriceUpdated(
                    venue=venue, symbol="BTC/USDT", price=D(value), market_time=T0 + timedelta(seconds=second)
                )
            )
    view.apply(
        PriceUpdated(venue="okx", symbol="BTC/USDT", price=D("1.5"), market_time=T0 + timedelta(seconds=5))
    )
    # The year-2999 print of the issue, had it reached the view: after every order's time, so never seen.
    view.apply(
        PriceUpdated(
            venue="binance", symbol="BTC/USDT", price=D("1.5"), market_time=datetime(2999, 1, 1, tzinfo=UTC)
        )
    )
    at = T0 + timedelta(seconds=6)
    assert view.last_price("BTC/USDT") == D("1.5")
    assert view.risk_prices({"BTC/USDT"}, None, at) == {"BTC/USDT": D(60000)}
    assert view.risk_prices({"BTC/USDT", "ETH/USDT"}, at, at) == {"BTC/USDT": D(60000)}
    assert view.reference_price("ETH/USDT", at) is None
