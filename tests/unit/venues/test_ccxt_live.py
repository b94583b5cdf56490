"""CcxtVenue's retry logic against a fake exchange: find the order a timed-out attempt placed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from schemas.primitives import Liquidity, OrderType, Side, TimeInForce
from venues.base import VenueError, VenueOrder
from venues.ccxt_live import CcxtVenue, credentials_from_env, report_from_ccxt

D = Decimal


def order(limit: str | None = "60000.5", symbol: str = "BTC/USDT") -> VenueOrder:
    return VenueOrder(
        client_order_id="ord-1",
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        quantity=D("0.01"),
        limit_price=None if limit is None else D(limit),
        time_in_force=TimeInForce.IOC,
        market_time=datetime(2024, 8, 9, tzinfo=UTC),
    )


PLACED = {
    "id": "123",
    "clientOrderId": "ord-1",
    "status": "closed",
    "filled": 0.01,
    "average": 60000.1,
    "price": 60000.5,
    "fee": {"cost": 0.6, "currency": "USDT"},
}


class FakeExchange:
    """Scripted create_order outcomes: a dict is placed and returned, an exception is raised.

    `place_then_fail` stores the order on the venue *before* raising, like a timeout after the venue took it.
    """

    def __init__(
        self,
        outcomes: list[dict[str, Any] | Exception],
        *,
        place_then_fail: bool = False,
        has: dict[str, bool] | None = None,
    ) -> None:
        self.outcomes = list(outcomes)
        self.place_then_fail = place_then_fail
        self.has: dict[str, bool] = {"fetchOrders": True} if has is None else has
        self.book: list[dict[str, Any]] = [{"id": "other", "clientOrderId": "someone-else"}]
        self.created: list[tuple[Any, ...]] = []
        self.fetched: list[tuple[str, str]] = []
        self.closed = False

    async def create_order(
        self, symbol: str, type: str, side: str, amount: Any, price: Any, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.created.append((symbol, type, side, amount, price, params))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            if self.place_then_fail:
                self.book.append(PLACED)
            raise outcome
        self.book.append(outcome)
        return outcome

    async def fetch_orders(self, symbol: str) -> list[dict[str, Any]]:
        self.fetched.append(("fetch_orders", symbol))
        return list(self.book)

    async def fetch_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        self.fetched.append(("fetch_open_orders", symbol))
        return list(self.book)

    async def close(self) -> None:
        self.closed = True


def live(exchange: FakeExchange, attempts: int = 2) -> CcxtVenue:
    return CcxtVenue("binance", attempts=attempts, exchange=exchange)


async def test_placed_order_is_sent_as_decimal_strings_with_the_client_id() -> None:
    exchange = FakeExchange([PLACED])
    report = await live(exchange).submit(order())
    assert exchange.created == [
        (
            "BTC/USDT",
            "limit",
            "buy",
            "0.01",
            "60000.5",
            {"clientOrderId": "ord-1", "timeInForce": "IOC"},
        )
    ]
    assert exchange.fetched == []  # the first attempt does not look anything up
    assert report.venue_order_id == "123"


async def test_market_order_has_no_price() -> None:
    exchange = FakeExchange([PLACED])
    await live(exchange).submit(order(limit=None))
    assert exchange.created[0][1] == "market"
    assert exchange.created[0][4] is None


async def test_retry_finds_the_order_a_timed_out_attempt_placed() -> None:
    exchange = FakeExchange([ccxt_async.RequestTimeout("timed out"), PLACED], place_then_fail=True)
    report = await live(exchange).submit(order())
    assert len(exchange.created) == 1  # no second order
    assert exchange.fetched == [("fetch_orders", "BTC/USDT")]
    assert report.venue_order_id == "123"
    assert len(report.fills) == 1
    assert report.fills[0].quantity == D("0.01")


async def test_retry_uses_open_orders_when_the_venue_has_no_fetch_orders() -> None:
    exchange = FakeExchange(
        [ccxt_async.NetworkError("reset")], place_then_fail=True, has={"fetchOpenOrders": True}
    )
    report = await live(exchange).submit(order())
    assert len(exchange.created) == 1
    assert exchange.fetched == [("fetch_open_orders", "BTC/USDT")]
    assert report.venue_order_id == "123"


async def test_retry_places_again_when_the_first_attempt_never_arrived() -> None:
    exchange = FakeExchange([ccxt_async.NetworkError("refused"), PLACED])
    report = await live(exchange).submit(order())
    assert len(exchange.created) == 2
    assert exchange.created[0] == exchange.created[1]  # same client order id on the retry
    assert exchange.fetched == [("fetch_orders", "BTC/USDT")]
    assert report.venue_order_id == "123"


async def test_exchange_error_is_a_refusal_without_retry() -> None:
    exchange = FakeExchange([ccxt_async.InsufficientFunds("binance: not enough USDT"), PLACED])
    report = await live(exchange, attempts=4).submit(order())
    assert len(exchange.created) == 1
    assert exchange.fetched == []
    assert report.venue_order_id is None
    assert report.fills == ()
    assert report.refusal == "binance: not enough USDT"
    assert report.quantity == D("0.01")


async def test_network_errors_through_every_attempt_raise_venue_error() -> None:
    exchange = FakeExchange([ccxt_async.NetworkError("down"), ccxt_async.DDoSProtection("slow down")])
    with pytest.raises(VenueError, match="binance: slow down"):
        await live(exchange, attempts=2).submit(order())
    assert len(exchange.created) == 2


async def test_other_ccxt_errors_raise_venue_error_without_retry() -> None:
    exchange = FakeExchange([ccxt_async.BadResponse("not json"), PLACED])
    with pytest.raises(VenueError, match="binance: BadResponse: not json"):
        await live(exchange, attempts=4).submit(order())
    assert len(exchange.created) == 1


async def test_close_closes_the_exchange() -> None:
    exchange = FakeExchange([])
    await live(exchange).close()
    assert exchange.closed


def test_report_from_ccxt_maps_filled_average_and_fee() -> None:
    report = report_from_ccxt("binance", order(), {**PLACED, "fee": {"cost": -0.6, "currency": "BNB"}})
    assert (report.venue, report.quantity, report.venue_order_id, report.refusal) == (
        "binance",
        D("0.01"),
        "123",
        None,
    )
    (fill,) = report.fills
    assert fill.fill_id == "binance-123"
    assert fill.quantity == D("0.01")
    assert fill.price == D("60000.1")  # the average, not the limit price
    assert fill.fee == D("0.6")  # a sign convention of the venue: always a cost here
    assert fill.fee_currency == "BNB"
    assert fill.liquidity is Liquidity.TAKER


def test_report_from_ccxt_falls_back_to_price_and_quote_currency() -> None:
    placed = {"id": 77, "filled": 0.004, "average": None, "price": 3000.25, "fee": None}
    (fill,) = report_from_ccxt("okx", order(symbol="ETH/USDT:USDT"), placed).fills
    assert fill.price == D("3000.25")
    assert fill.fee == 0
    assert fill.fee_currency == "USDT"
    assert fill.fill_id == "okx-77"


@pytest.mark.parametrize("filled", [0, None])
def test_report_from_ccxt_without_a_fill(filled: float | None) -> None:
    report = report_from_ccxt("binance", order(), {"id": "5", "filled": filled})
    assert report.fills == ()
    assert report.venue_order_id == "5"


def test_report_from_ccxt_cuts_long_fill_ids() -> None:
    (fill,) = report_from_ccxt("binance", order(), {"id": "9" * 100, "filled": 1, "average": 1}).fills
    assert len(fill.fill_id) == 64


def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZVT_KRAKEN_API_KEY", "key")
    monkeypatch.setenv("ZVT_KRAKEN_SECRET", "secret")
    monkeypatch.delenv("ZVT_KRAKEN_PASSWORD", raising=False)
    assert credentials_from_env("kraken") == {"apiKey": "key", "secret": "secret"}
