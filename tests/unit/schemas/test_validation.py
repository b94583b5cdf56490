"""Bad input gets a clear error that names the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import orjson
import pytest

from schemas import (
    CODEC,
    BookLevel,
    ExchangeRouted,
    OrderBookUpdated,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    QuoteTick,
    RejectReason,
    RouteLeg,
    VenueScore,
)
from schemas.base import Event
from schemas.codec import EventDecodeError

NOW = datetime(2024, 8, 9, 0, 0, tzinfo=UTC)


def order(**overrides: Any) -> OrderRequested:
    fields: dict[str, Any] = {
        "order_id": "ord-1",
        "account_id": "acct-1",
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "quantity": Decimal("0.015"),
        "limit_price": Decimal("61234.50"),
    }
    return OrderRequested(**(fields | overrides))


def order_json(**overrides: Any) -> bytes:
    raw = orjson.loads(CODEC.encode(order()))
    raw.update(overrides)
    return orjson.dumps({key: value for key, value in raw.items() if value is not ...})


def decode_error(data: bytes) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as caught:
        CODEC.decode(data)
    return caught.value


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"quantity": "-0.5"}, "quantity", "greater than 0"),
        ({"quantity": "0"}, "quantity", "greater than 0"),
        ({"quantity": "NaN"}, "quantity", "finite number"),
        ({"limit_price": "Infinity"}, "limit_price", "finite number"),
        ({"limit_price": "-inf"}, "limit_price", "finite number"),
        ({"quantity": [1]}, "quantity", "Decimal input"),
        ({"quantity": True}, "quantity", "Decimal input"),
        ({"side": "hold"}, "side", "'buy' or 'sell'"),
        ({"symbol": "BTCUSDT"}, "symbol", "pattern"),
        ({"account_id": ""}, "account_id", "at least 1"),
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
        ({"timestamp": "2024-08-09T00:00:00"}, "timestamp", "timezone"),
        ({"quantity": ...}, "quantity", "Field required"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
        ({"version": "one"}, "version", "positive integer"),
    ],
)
def test_invalid_field_is_named(overrides: dict[str, Any], field: str, message: str) -> None:
    error = decode_error(order_json(**overrides))
    assert field in error.fields
    assert f"{field}: " in str(error)
    assert message in str(error)


def test_unknown_event_type() -> None:
    error = decode_error(order_json(event_type="order.teleported"))
    assert error.fields == ("event_type",)
    assert "order.teleported" in str(error)


def test_missing_event_type() -> None:
    error = decode_error(order_json(event_type=...))
    assert error.fields == ("event_type",)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"garbage", b"{", b"[1, 2]", b"42", b"null"])
def test_not_an_event_object(data: bytes) -> None:
    assert decode_error(data).reason


def test_json_numbers_are_accepted_exactly() -> None:
    event = CODEC.decode(order_json(quantity=0.1, limit_price=61234))
    assert isinstance(event, OrderRequested)
    assert event.quantity == Decimal("0.1")
    assert event.limit_price == Decimal("61234")


def test_limit_order_needs_price_and_market_order_has_none() -> None:
    with pytest.raises(ValueError, match="limit_price is required"):
        order(limit_price=None)
    with pytest.raises(ValueError, match="limit_price must be empty"):
        order(order_type="market")


def test_root_event_correlates_to_itself_and_caused_events_follow() -> None:
    root = order()
    assert root.correlation_id == root.event_id
    assert root.causation_id is None
    child = root.caused(
        QuoteTick,
        venue="binance",
        symbol="BTC/USDT",
        bid_price=Decimal(1),
        bid_size=Decimal(1),
        ask_price=Decimal(2),
        ask_size=Decimal(1),
        market_time=NOW,
    )
    assert child.correlation_id == root.event_id
    assert child.causation_id == root.event_id
    explicit = uuid4()
    assert order(correlation_id=explicit).correlation_id == explicit


def test_timestamps_are_normalised_to_utc() -> None:
    event = CODEC.decode(order_json(timestamp="2024-08-09T02:00:00+02:00"))
    assert event.timestamp == NOW
    assert event.timestamp.utcoffset() is not None
    assert event.timestamp.tzinfo == UTC


def test_event_type_and_version_cannot_be_mislabelled() -> None:
    with pytest.raises(ValueError, match=r"event_type must be 'order\.requested'"):
        order(event_type="order.validated")
    with pytest.raises(ValueError, match="must be upcast"):
        order(version=2)


def test_base_event_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Event()


def test_events_are_immutable() -> None:
    event = order()
    with pytest.raises(ValueError, match="frozen"):
        event.quantity = Decimal(1)  # type: ignore[misc]


def test_crossed_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="bid_price 101 is above ask_price 100"):
        QuoteTick(
            venue="kraken",
            symbol="BTC/USD",
            bid_price=Decimal(101),
            bid_size=Decimal(1),
            ask_price=Decimal(100),
            ask_size=Decimal(1),
            market_time=NOW,
        )


def test_book_sides_must_be_sorted() -> None:
    level = lambda price: BookLevel(price=Decimal(price), size=Decimal(1))  # noqa: E731
    with pytest.raises(ValueError, match="bids must be strictly descending"):
        OrderBookUpdated(
            venue="binance",
            symbol="BTC/USDT",
            bids=(level(1), level(2)),
            asks=(),
            sequence=1,
            market_time=NOW,
        )
    with pytest.raises(ValueError, match="asks must be strictly ascending"):
        OrderBookUpdated(
            venue="binance",
            symbol="BTC/USDT",
            bids=(),
            asks=(level(3), level(3)),
            sequence=1,
            market_time=NOW,
        )
    book = OrderBookUpdated(
        venue="binance",
        symbol="BTC/USDT",
        bids=(level(2), level(1)),
        asks=(level(3), level(4)),
        sequence=1,
        market_time=NOW,
    )
    assert book.bids[0].price == 2


def test_route_legs_must_add_up_to_the_order() -> None:
    score = VenueScore(
        venue="binance",
        score=Decimal(1),
        fee_rate=Decimal("0.001"),
        expected_price=None,
        available_quantity=Decimal(1),
        latency_ms=Decimal(5),
        healthy=True,
    )
    terms = order().model_dump(exclude={"event_id", "event_type", "version", "correlation_id", "venue"})
    with pytest.raises(ValueError, match=r"legs add up to 0\.010"):
        ExchangeRouted(
            **terms, legs=(RouteLeg(venue="binance", quantity=Decimal("0.010")),), candidates=(score,)
        )


def test_fill_status_must_match_remaining_quantity() -> None:
    fill: dict[str, Any] = {
        "order_id": "ord-1",
        "account_id": "acct-1",
        "symbol": "BTC/USDT",
        "side": "buy",
        "venue": "paper",
        "fill_id": "f-1",
        "fill_quantity": Decimal(1),
        "fill_price": Decimal(100),
        "fee": Decimal("0.1"),
        "fee_currency": "USDT",
        "liquidity": "taker",
        "cumulative_quantity": Decimal(1),
    }
    with pytest.raises(ValueError, match="a filled order has remaining_quantity 0"):
        OrderExecuted(**fill, remaining_quantity=Decimal(1), status="filled")
    with pytest.raises(ValueError, match="remaining_quantity above 0"):
        OrderExecuted(**fill, remaining_quantity=Decimal(0), status="partially_filled")
    with pytest.raises(ValueError, match="cannot exceed cumulative"):
        OrderExecuted(
            **(fill | {"fill_quantity": Decimal(2)}), remaining_quantity=Decimal(0), status="filled"
        )


def test_correlation_id_cannot_be_null() -> None:
    error = decode_error(order_json(correlation_id=None))
    assert error.fields == ("correlation_id",)


def test_rejection_of_a_request_keeps_its_order_and_causation() -> None:
    request = order(strategy_id="ma-cross")
    rejection = OrderRejected.for_order(request, RejectReason.MAX_POSITION, "position 3 > limit 2")
    assert (rejection.order_id, rejection.account_id, rejection.strategy_id) == (
        "ord-1",
        "acct-1",
        "ma-cross",
    )
    assert (rejection.symbol, rejection.side) == (request.symbol, request.side)
    assert rejection.causation_id == request.event_id
    assert rejection.correlation_id == request.correlation_id
    assert rejection.reason is RejectReason.MAX_POSITION
