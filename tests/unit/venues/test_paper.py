"""The paper venue: fills against the book in force at market time plus latency, deterministically."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.primitives import OrderType, Side, TimeInForce
from tests.unit.trading.builders import T0, D, ms, rules, top
from trading.books import BookHistory, BookTop
from trading.execution import LegReport, VenueFill
from trading.markets import MarketCatalog
from venues.base import VenueOrder
from venues.paper import PaperVenue

CATALOG = MarketCatalog(
    [
        rules("alpha", "BTC/USDT", taker_fee=D("0.001")),
        rules("alpha", "ETH/USDT", active=False),
        rules("beta", "XRP/USDT"),
    ]
)


class Books:
    """A BookLookup over one BookHistory per venue and symbol, recording what it was asked."""

    def __init__(self, *tops: BookTop) -> None:
        self.histories: dict[tuple[str, str], BookHistory] = {}
        self.asked: list[tuple[str, str, datetime]] = []
        for book in tops:
            self.histories.setdefault((book.venue, book.symbol), BookHistory()).add(book)

    def __call__(self, venue: str, symbol: str, when: datetime) -> BookTop | None:
        self.asked.append((venue, symbol, when))
        history = self.histories.get((venue, symbol))
        return None if history is None else history.as_of(when)


def order(
    quantity: str = "0.5",
    *,
    side: Side = Side.BUY,
    limit: str | None = None,
    symbol: str = "BTC/USDT",
    tif: TimeInForce = TimeInForce.IOC,
    client_order_id: str = "ord-1",
) -> VenueOrder:
    return VenueOrder(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        quantity=D(quantity),
        limit_price=None if limit is None else D(limit),
        time_in_force=tif,
        market_time=T0,
    )


def changing_book() -> Books:
    return Books(
        top(bid="99", ask="100", ask_size="2", at=T0 - ms(1000)),
        top(
            bid="100", ask="101", ask_size="2", at=T0 + ms(30)
        ),  # in force when the order arrives (T0 + 50ms)
        top(bid="104", ask="105", ask_size="2", at=T0 + ms(60)),  # after arrival: never used
    )


def venue(books: Books, latency_ms: str = "50", name: str = "alpha") -> PaperVenue:
    return PaperVenue(name, CATALOG, books, D(latency_ms))


def only_fill(report: LegReport) -> VenueFill:
    assert len(report.fills) == 1
    return report.fills[0]


async def test_fills_at_the_book_as_of_market_time_plus_latency() -> None:
    books = changing_book()
    report = await venue(books).submit(order("0.5"))
    assert books.asked == [("alpha", "BTC/USDT", T0 + ms(50))]
    fill = only_fill(report)
    assert (fill.quantity, fill.price) == (D("0.5"), D(101))
    assert report.venue == "alpha"
    assert report.quantity == D("0.5")
    assert report.venue_order_id == "paper-alpha-ord-1"
    assert report.refusal is None


async def test_zero_latency_uses_the_book_before_the_order() -> None:
    report = await venue(changing_book(), latency_ms="0").submit(order("0.5"))
    assert only_fill(report).price == D(100)


async def test_longer_latency_reaches_the_later_book() -> None:
    report = await venue(changing_book(), latency_ms="60").submit(order("0.5", side=Side.SELL))
    assert only_fill(report).price == D(104)


async def test_fee_from_the_venue_taker_rate_in_quote() -> None:
    fill = only_fill(await venue(changing_book()).submit(order("0.5")))
    assert fill.fee == D("0.0505")  # 0.5 x 101 x 0.001
    assert fill.fee_currency == "USDT"
    assert fill.liquidity.value == "taker"


async def test_fills_only_the_size_shown() -> None:
    fill = only_fill(await venue(changing_book()).submit(order("3")))
    assert fill.quantity == D(2)


async def test_no_fill_without_a_book() -> None:
    report = await venue(Books()).submit(order())
    assert report == LegReport("alpha", D("0.5"), "paper-alpha-ord-1")


async def test_no_fill_before_the_first_book() -> None:
    books = Books(top(at=T0 + ms(51)))
    report = await venue(books).submit(order())
    assert report.fills == ()
    assert report.venue_order_id == "paper-alpha-ord-1"


async def test_no_fill_on_an_empty_side() -> None:
    report = await venue(Books(top(ask=None, ask_size="0", at=T0))).submit(order())
    assert report.fills == ()


async def test_no_fill_when_the_limit_is_not_reached() -> None:
    report = await venue(changing_book()).submit(order(limit="100.99"))
    assert report.fills == ()
    filled = await venue(changing_book()).submit(order(limit="101"))
    assert only_fill(filled).price == D(101)


async def test_fok_without_the_full_size_does_not_fill() -> None:
    report = await venue(changing_book()).submit(order("3", tif=TimeInForce.FOK))
    assert report.fills == ()


async def test_unknown_or_inactive_market_is_refused() -> None:
    for symbol in ("ETH/USDT", "XRP/USDT", "DOGE/USDT"):
        report = await venue(changing_book()).submit(order(symbol=symbol))
        assert report.venue_order_id is None
        assert report.fills == ()
        assert report.refusal == f"{symbol} not tradable here"


async def test_same_order_twice_gives_the_same_report() -> None:
    paper = venue(changing_book())
    first = await paper.submit(order("0.5", client_order_id="abc"))
    second = await paper.submit(order("0.5", client_order_id="abc"))
    assert first == second
    other = await paper.submit(order("0.5", client_order_id="abd"))
    assert only_fill(other).fill_id != only_fill(first).fill_id
    assert only_fill(first).fill_id.startswith("alpha-")
    assert len(only_fill(first).fill_id) == len("alpha-") + 24


async def test_close_is_a_no_op() -> None:
    paper = venue(Books())
    await paper.close()
    assert (await paper.submit(order())).venue_order_id is not None


async def test_fractional_latency_is_kept() -> None:
    books = Books(top(ask="123", at=T0 + timedelta(microseconds=12_500)))
    report = await venue(books, latency_ms="12.5").submit(order())
    assert books.asked == [("alpha", "BTC/USDT", T0 + timedelta(microseconds=12_500))]
    assert only_fill(report).price == D(123)  # a latency cut to 12 ms would arrive before this book
