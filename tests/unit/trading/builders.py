"""Small builders for the trading core's inputs: hand-made market rules, book tops and order events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agents.settings import AgentSettings
from schemas import (
    CancelReason,
    ExchangeRouted,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRequested,
    OrderStatus,
    OrderValidated,
    RouteLeg,
    VenueScore,
)
from schemas.primitives import Side
from trading.books import BookTop
from trading.markets import MarketRules

D = Decimal
T0 = datetime(2024, 8, 9, 12, 0, tzinfo=UTC)
MARKETS_DIR_PATH = str(AgentSettings().markets_dir)  # the same files the agents read
ALL_VENUES = ("binance", "bitstamp", "bybit", "coinbase", "kraken", "okx")


def ms(milliseconds: int) -> timedelta:
    return timedelta(milliseconds=milliseconds)


def rules(venue: str = "alpha", symbol: str = "BTC/USDT", **overrides: Any) -> MarketRules:
    """Rules with no limits at all unless overridden: step 0.001, tick 0.01, 0.1% taker fee."""
    base, quote = symbol.split("/")
    fields: dict[str, Any] = {
        "venue": venue,
        "symbol": symbol,
        "base": base,
        "quote": quote.split(":")[0],
        "active": True,
        "amount_step": D("0.001"),
        "price_step": D("0.01"),
        "min_amount": None,
        "max_amount": None,
        "min_price": None,
        "max_price": None,
        "min_cost": None,
        "max_cost": None,
        "taker_fee": D("0.001"),
        "maker_fee": D("0.001"),
    }
    return MarketRules(**(fields | overrides))


def top(
    venue: str = "alpha",
    *,
    bid: str | None = "99",
    bid_size: str = "1",
    ask: str | None = "100",
    ask_size: str = "1",
    at: datetime = T0,
    symbol: str = "BTC/USDT",
) -> BookTop:
    return BookTop(
        venue=venue,
        symbol=symbol,
        bid_price=None if bid is None else D(bid),
        bid_size=D(bid_size),
        ask_price=None if ask is None else D(ask),
        ask_size=D(ask_size),
        market_time=at,
    )


def _order_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "order_id": "ord-1",
        "account_id": "acct-1",
        "strategy_id": "strat-1",
        "symbol": "BTC/USDT",
        "side": Side.BUY,
        "order_type": "market",
        "quantity": D("0.01"),
        "market_time": T0,
    }
    fields |= overrides
    if "limit_price" in overrides and "order_type" not in overrides:
        fields["order_type"] = "limit"
    return fields


def request(**overrides: Any) -> OrderRequested:
    """A market buy of 0.01 BTC/USDT at T0 unless overridden (a limit_price makes it a limit order)."""
    return OrderRequested(**_order_fields(overrides))


def validated(**overrides: Any) -> OrderValidated:
    return OrderValidated(**_order_fields(overrides))


def executed(
    *,
    quantity: str,
    price: str,
    cumulative: str,
    remaining: str,
    status: OrderStatus,
    side: Side = Side.BUY,
    order_id: str = "ord-1",
    symbol: str = "BTC/USDT",
    fee: str = "0",
    fill_id: str = "fill-1",
    market_time: datetime | None = None,
    account_id: str = "acct-1",
    strategy_id: str | None = None,
) -> OrderExecuted:
    return OrderExecuted(
        order_id=order_id,
        account_id="acct-1",
        symbol=symbol,
        side=side,
        venue="alpha",
        fill_id=fill_id,
        fill_quantity=D(quantity),
        fill_price=D(price),
        fee=D(fee),
        fee_currency="USDT",
        liquidity="taker",
        cumulative_quantity=D(cumulative),
        remaining_quantity=D(remaining),
        status=status,
        market_time=market_time,
        strategy_id=strategy_id,
    )


def _ended_fields(order_id: str, side: Side, symbol: str, account_id: str, strategy_id: str | None) -> Any:
    return {
        "order_id": order_id,
        "account_id": account_id,
        "strategy_id": strategy_id,
        "symbol": symbol,
        "side": side,
        "venue": "alpha",
    }


def canceled(
    *,
    canceled_quantity: str,
    cumulative: str = "0",
    at: datetime | None = T0,
    reason: CancelReason = CancelReason.REQUESTED,
    order_id: str = "ord-1",
    side: Side = Side.BUY,
    symbol: str = "BTC/USDT",
    account_id: str = "acct-1",
    strategy_id: str | None = None,
) -> OrderCanceled:
    return OrderCanceled(
        **_ended_fields(order_id, side, symbol, account_id, strategy_id),
        reason=reason,
        canceled_quantity=D(canceled_quantity),
        cumulative_quantity=D(cumulative),
        canceled_at=at,
    )


def expired(
    *,
    expired_quantity: str,
    cumulative: str = "0",
    at: datetime = T0,
    order_id: str = "ord-1",
    side: Side = Side.BUY,
    symbol: str = "BTC/USDT",
    account_id: str = "acct-1",
    strategy_id: str | None = None,
) -> OrderExpired:
    return OrderExpired(
        **_ended_fields(order_id, side, symbol, account_id, strategy_id),
        expired_quantity=D(expired_quantity),
        cumulative_quantity=D(cumulative),
        expire_at=at,
    )


def accepted(
    *, resting: str, at: datetime = T0, limit_price: str = "100", **overrides: Any
) -> OrderAccepted:
    fields = _order_fields({"order_type": "limit", "limit_price": D(limit_price), **overrides})
    return OrderAccepted(
        **fields, venue="alpha", venue_order_id="paper-1", resting_quantity=D(resting), accepted_at=at
    )


def amended(*, cumulative: str, at: datetime = T0, **overrides: Any) -> OrderAmended:
    fields = _order_fields({"order_type": "limit", "limit_price": D("100"), **overrides})
    return OrderAmended(**fields, venue="alpha", cumulative_quantity=D(cumulative), amended_at=at)


def routed(legs: dict[str, str], **overrides: Any) -> ExchangeRouted:
    """A routed order whose quantity is the sum of `legs` (venue -> quantity)."""
    route_legs = tuple(
        RouteLeg(venue=venue, quantity=D(q), expected_price=D("100")) for venue, q in legs.items()
    )
    candidates = tuple(
        VenueScore(
            venue=venue,
            score=D("1"),
            fee_rate=D("0.001"),
            expected_price=D("100"),
            available_quantity=D(q),
            latency_ms=D("0"),
            healthy=True,
        )
        for venue, q in legs.items()
    )
    quantity = sum((leg.quantity for leg in route_legs), D(0))
    fields = _order_fields({"quantity": quantity, **overrides})
    return ExchangeRouted(**fields, legs=route_legs, candidates=candidates)
