"""Order types and instructions added to the order terms: valid combinations only, and today's events
unchanged on the wire (no version bump: every version-1 event decodes as it did)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
from pydantic import ValidationError

from schemas import (
    CODEC,
    OrderAmendRequested,
    OrderExecuted,
    OrderRequested,
    OrderValidated,
)
from schemas.primitives import OrderType, TimeInForce, TriggerSource

T0 = datetime(2024, 8, 9, 12, 0, tzinfo=UTC)
# What HEAD of main encoded for these two events before the instructions existed (byte for byte).
V1_LIMIT_ORDER = (
    b'{"event_id":"00000000-0000-0000-0000-000000000001","event_type":"order.requested",'
    b'"timestamp":"2024-08-09T12:00:00Z","correlation_id":"00000000-0000-0000-0000-000000000001",'
    b'"causation_id":null,"version":1,"metadata":{},"order_id":"ord-1","account_id":"acct-1",'
    b'"strategy_id":null,"symbol":"BTC/USDT","side":"buy","order_type":"limit","quantity":"0.010",'
    b'"limit_price":"60000.5","time_in_force":"gtc","market_time":"2024-08-09T12:00:00Z","venue":null}'
)
V1_FILL = (
    b'{"event_id":"00000000-0000-0000-0000-000000000002","event_type":"order.executed",'
    b'"timestamp":"2024-08-09T12:00:00Z","correlation_id":"00000000-0000-0000-0000-000000000002",'
    b'"causation_id":null,"version":1,"metadata":{},"order_id":"ord-1","account_id":"acct-1",'
    b'"strategy_id":null,"symbol":"BTC/USDT","side":"buy","venue":"binance","fill_id":"f-1",'
    b'"fill_quantity":"0.01","fill_price":"60000","fee":"0.6","fee_currency":"USDT","liquidity":"taker",'
    b'"cumulative_quantity":"0.01","remaining_quantity":"0","status":"filled"}'
)


def order(**overrides: Any) -> OrderRequested:
    fields: dict[str, Any] = {
        "event_id": UUID(int=1),
        "timestamp": T0,
        "order_id": "ord-1",
        "account_id": "acct-1",
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "quantity": Decimal("0.010"),
        "limit_price": Decimal("60000.5"),
        "market_time": T0,
    }
    return OrderRequested(**(fields | overrides))


def test_version_1_events_encode_and_decode_byte_for_byte_as_before() -> None:
    assert CODEC.encode(order()) == V1_LIMIT_ORDER
    decoded = CODEC.decode(V1_LIMIT_ORDER)
    assert decoded == order()
    assert isinstance(decoded, OrderRequested)
    assert (decoded.stop_price, decoded.post_only, decoded.reduce_only, decoded.expire_at) == (
        None,
        False,
        False,
        None,
    )
    fill = CODEC.decode(V1_FILL)
    assert isinstance(fill, OrderExecuted)
    assert fill.market_time is None
    assert CODEC.encode(fill) == V1_FILL


def test_an_instruction_appears_on_the_wire_only_when_used() -> None:
    stop = order(
        order_type="stop_limit",
        stop_price=Decimal("60100"),
        trigger_source="quote",
        expire_at=datetime(2024, 8, 9, 13, tzinfo=UTC),
        reduce_only=True,
    )
    raw = orjson.loads(CODEC.encode(stop))
    assert raw["stop_price"] == "60100"
    assert raw["trigger_source"] == "quote"
    assert raw["reduce_only"] is True
    assert raw["expire_at"] == "2024-08-09T13:00:00Z"
    assert "post_only" not in raw
    assert CODEC.decode(CODEC.encode(stop)) == stop


def test_instructions_travel_with_the_order_terms() -> None:
    stop = order(order_type="stop_market", limit_price=None, stop_price=Decimal("59000"), side="sell")
    validated = stop.caused(OrderValidated, **stop.order_terms())
    assert validated.stop_price == Decimal("59000")
    assert validated.order_type is OrderType.STOP_MARKET
    assert validated.trigger_source is TriggerSource.TRADE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"order_type": "stop_market", "limit_price": None}, "stop_price is required for a stop market"),
        ({"order_type": "stop_limit", "stop_price": Decimal(1), "limit_price": None}, "limit_price is req"),
        ({"order_type": "stop_market", "stop_price": Decimal(1)}, "limit_price must be empty for a stop"),
        ({"stop_price": Decimal(1)}, "stop_price must be empty for a limit order"),
        ({"trigger_source": "quote"}, "trigger_source is only for stop orders"),
        ({"post_only": True, "time_in_force": "ioc"}, "post_only is for GTC limit orders"),
        ({"post_only": True, "order_type": "market", "limit_price": None}, "post_only is for GTC limit"),
        ({"expire_at": T0, "time_in_force": "fok"}, "expire_at is for GTC limit and stop orders"),
        ({"expire_at": T0, "order_type": "market", "limit_price": None}, "expire_at is for GTC"),
    ],
)
def test_contradictory_instructions_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        order(**overrides)


def test_valid_combinations() -> None:
    assert order(post_only=True).post_only
    assert order(time_in_force=TimeInForce.FOK).time_in_force is TimeInForce.FOK
    assert order(expire_at=T0, order_type="stop_market", limit_price=None, stop_price=Decimal(2)).expire_at


def test_an_amend_changes_something() -> None:
    with pytest.raises(ValidationError, match="names a new quantity"):
        OrderAmendRequested(order_id="ord-1", account_id="acct-1")
    assert OrderAmendRequested(order_id="ord-1", account_id="acct-1", limit_price=Decimal(5)).quantity is None
