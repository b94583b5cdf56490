"""Hypothesis strategies for every event type, built from the same value types the schemas use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from schemas import (
    AccountLimitsSet,
    AlertTriggered,
    AmendPaperOrder,
    BookLevel,
    CancelPaperOrder,
    CancelReason,
    Event,
    ExchangeRouted,
    KillSwitchSet,
    LimitName,
    ModifyRejectReason,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderCreated,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrdersDecidedThrough,
    OrderStatus,
    OrderTriggered,
    OrderUpdateKind,
    OrderValidated,
    PaperOrdersThrough,
    PaperOutcomesThrough,
    PaperRiskOutcome,
    PaperRiskOutcomesThrough,
    PortfolioRebalanced,
    PositionUpdated,
    PricesThrough,
    PriceUpdated,
    QuoteTick,
    RebalanceStatus,
    RejectReason,
    RiskBreached,
    RiskOutcomeKind,
    RouteLeg,
    StrategyHaltSet,
    StrategyOrderUpdate,
    SubmitPaperOrder,
    TradeTick,
    VenueScore,
)
from schemas.primitives import Liquidity, OrderType, Severity, Side, TimeInForce, TriggerSource

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def decimals_between(low: str, high: str, places: int = 18) -> st.SearchStrategy[Decimal]:
    """Exact decimals in [low, high] with `places` fractional digits (trailing zeros kept, e.g. 1.10)."""
    scale = Decimal(10) ** places
    return st.integers(int(Decimal(low) * scale), int(Decimal(high) * scale)).map(
        lambda units: Decimal(units).scaleb(-places)
    )


def _scaled(coefficients: st.SearchStrategy[int]) -> st.SearchStrategy[Decimal]:
    """Decimals of any magnitude a market shows: a coefficient and 0-18 fractional digits."""
    return st.builds(lambda units, places: Decimal(units).scaleb(-places), coefficients, st.integers(0, 18))


positive = _scaled(st.integers(1, 10**30))
non_negative = _scaled(st.integers(0, 10**30))
signed = _scaled(st.integers(-(10**30), 10**30))

identifiers = st.text(_ALNUM + "._:-", min_size=1, max_size=64)
venues = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=32)
assets = st.text(_ALNUM, min_size=1, max_size=10)
symbols = st.builds(lambda base, quote: f"{base}/{quote}", assets, assets) | st.builds(
    lambda base, quote, settle: f"{base}/{quote}:{settle}", assets, assets, assets
)
currencies = assets
timestamps = st.datetimes(
    min_value=datetime(2009, 1, 3), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(2009, 1, 3),
    max_value=datetime(2100, 1, 1),
    timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-12 * 60, 14 * 60)),
)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
metadata = st.dictionaries(
    st.text(max_size=12), json_scalars | st.lists(json_scalars, max_size=3), max_size=4
)


# A root event omits correlation_id (it then correlates to itself); a caused one carries both ids.
envelopes = st.fixed_dictionaries(
    {
        "event_id": st.uuids(),
        "timestamp": timestamps,
        "causation_id": st.none() | st.uuids(),
        "metadata": metadata,
    },
    optional={"correlation_id": st.uuids()},
)


@st.composite
def order_terms(draw: st.DrawFn) -> dict[str, Any]:
    """Any order the schema accepts: every type, and the instructions that go with it (or their defaults,
    left out of the dict half the time so both the explicit and the implicit default are drawn)."""
    order_type = draw(st.sampled_from(OrderType))
    time_in_force = draw(st.sampled_from(TimeInForce))
    terms = {
        "order_id": draw(identifiers),
        "account_id": draw(identifiers),
        "strategy_id": draw(st.none() | identifiers),
        "symbol": draw(symbols),
        "side": draw(st.sampled_from(Side)),
        "order_type": order_type,
        "quantity": draw(positive),
        "limit_price": draw(positive) if order_type.has_limit else None,
        "time_in_force": time_in_force,
    }
    rests = time_in_force is TimeInForce.GTC and order_type is not OrderType.MARKET
    optional = {
        "stop_price": draw(positive) if order_type.is_stop else None,
        "trigger_source": draw(st.sampled_from(TriggerSource)) if order_type.is_stop else TriggerSource.TRADE,
        "post_only": draw(st.booleans()) and rests and order_type is OrderType.LIMIT,
        "reduce_only": draw(st.booleans()),
        "expire_at": draw(st.none() | timestamps) if rests else None,
        "market_time": draw(st.none() | timestamps),
    }
    return terms | {name: value for name, value in optional.items() if value or draw(st.booleans())}


def event_of(model: type[Event], body: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Event]:
    return st.builds(lambda env, fields: model(**env, **fields), envelopes, body)


@st.composite
def routed_body(draw: st.DrawFn) -> dict[str, Any]:
    terms = draw(order_terms())
    leg_sizes = draw(st.lists(positive, min_size=1, max_size=3))
    scale = terms["quantity"] / sum(leg_sizes, Decimal(0))
    legs = [
        RouteLeg(venue=draw(venues), quantity=size * scale, expected_price=draw(st.none() | positive))
        for size in leg_sizes[:-1]
    ]
    rest = terms["quantity"] - sum((leg.quantity for leg in legs), Decimal(0))
    if rest <= 0:  # rounding in the scaling left nothing: one leg carries the whole order
        legs, rest = [], terms["quantity"]
    legs.append(RouteLeg(venue=draw(venues), quantity=rest))
    candidates = draw(
        st.lists(
            st.builds(
                VenueScore,
                venue=venues,
                score=signed,
                fee_rate=decimals_between("-0.01", "0.01", 6),
                expected_price=st.none() | positive,
                available_quantity=non_negative,
                latency_ms=non_negative,
                healthy=st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return {**terms, "legs": tuple(legs), "candidates": tuple(candidates)}


@st.composite
def executed_body(draw: st.DrawFn) -> dict[str, Any]:
    fill = draw(positive)
    cumulative = fill + draw(non_negative)
    status = draw(st.sampled_from(OrderStatus))
    remaining = Decimal(0) if status is OrderStatus.FILLED else draw(positive)
    if status is OrderStatus.CANCELED:
        remaining = draw(non_negative)
    return {
        "order_id": draw(identifiers),
        "account_id": draw(identifiers),
        "strategy_id": draw(st.none() | identifiers),
        "symbol": draw(symbols),
        "side": draw(st.sampled_from(Side)),
        "venue": draw(venues),
        "fill_id": draw(identifiers),
        "fill_quantity": fill,
        "fill_price": draw(positive),
        "fee": draw(non_negative),
        "fee_currency": draw(currencies),
        "liquidity": draw(st.sampled_from(Liquidity)),
        "cumulative_quantity": cumulative,
        "remaining_quantity": remaining,
        "status": status,
        "market_time": draw(st.none() | timestamps),
    }


@st.composite
def book_body(draw: st.DrawFn) -> dict[str, Any]:
    prices = sorted(draw(st.sets(positive, min_size=0, max_size=10)))
    split = draw(st.integers(0, len(prices)))
    level = lambda price: BookLevel(price=price, size=draw(non_negative))  # noqa: E731
    return {
        "venue": draw(venues),
        "symbol": draw(symbols),
        "sequence": draw(st.integers(0, 2**62)),
        "bids": tuple(level(p) for p in reversed(prices[:split])),
        "asks": tuple(level(p) for p in prices[split:]),
        "market_time": draw(timestamps),
    }


@st.composite
def quote_body(draw: st.DrawFn) -> dict[str, Any]:
    bid, ask = sorted([draw(positive), draw(positive)])
    return {
        "venue": draw(venues),
        "symbol": draw(symbols),
        "bid_price": bid,
        "ask_price": ask,
        "bid_size": draw(non_negative),
        "ask_size": draw(non_negative),
        "market_time": draw(timestamps),
    }


@st.composite
def order_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "order_id": draw(identifiers),
        "account_id": draw(identifiers),
        "strategy_id": draw(st.none() | identifiers),
        "symbol": draw(symbols),
        "side": draw(st.sampled_from(Side)),
    }


@st.composite
def order_reference(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "order_id": draw(identifiers),
        "account_id": draw(identifiers),
        "strategy_id": draw(st.none() | identifiers),
    }


@st.composite
def amend_body(draw: st.DrawFn) -> dict[str, Any]:
    changes = {
        "quantity": draw(st.none() | positive),
        "limit_price": draw(st.none() | positive),
        "stop_price": draw(st.none() | positive),
    }
    if all(value is None for value in changes.values()):
        changes["quantity"] = draw(positive)
    return draw(order_reference()) | changes | {"market_time": draw(st.none() | timestamps)}


def _with(base: st.SearchStrategy[dict[str, Any]], **extra: st.SearchStrategy[Any]) -> Any:
    return st.builds(lambda fields, more: {**fields, **more}, base, st.fixed_dictionaries(extra))


LIFECYCLE_STRATEGIES: dict[type[Event], st.SearchStrategy[Event]] = {
    OrderAccepted: event_of(
        OrderAccepted,
        _with(
            order_terms(),
            venue=venues,
            venue_order_id=identifiers,
            resting_quantity=positive,
            accepted_at=timestamps,
            detail=st.text(max_size=100),
        ),
    ),
    OrderTriggered: event_of(
        OrderTriggered,
        _with(
            order_fields(),
            venue=venues,
            stop_price=positive,
            trigger_price=positive,
            trigger_source=st.sampled_from(TriggerSource),
            triggered_at=timestamps,
        ),
    ),
    OrderAmended: event_of(
        OrderAmended,
        _with(order_terms(), venue=venues, cumulative_quantity=non_negative, amended_at=timestamps),
    ),
    OrderCanceled: event_of(
        OrderCanceled,
        _with(
            order_fields(),
            venue=st.none() | venues,
            reason=st.sampled_from(CancelReason),
            detail=st.text(max_size=100),
            canceled_quantity=positive,
            cumulative_quantity=non_negative,
            canceled_at=st.none() | timestamps,
        ),
    ),
    OrderExpired: event_of(
        OrderExpired,
        _with(
            order_fields(),
            venue=st.none() | venues,
            expired_quantity=positive,
            cumulative_quantity=non_negative,
            expire_at=timestamps,
        ),
    ),
    OrderCancelRequested: event_of(
        OrderCancelRequested,
        _with(order_reference(), market_time=st.none() | timestamps, detail=st.text(max_size=100)),
    ),
    OrderAmendRequested: event_of(OrderAmendRequested, amend_body()),
    CancelPaperOrder: event_of(
        CancelPaperOrder,
        _with(
            order_reference(),
            market_time=st.none() | timestamps,
            detail=st.text(max_size=100),
            symbol=symbols,
            venue=venues,
        ),
    ),
    AmendPaperOrder: event_of(AmendPaperOrder, _with(amend_body(), symbol=symbols, venue=venues)),
    PricesThrough: event_of(
        PricesThrough, st.fixed_dictionaries({"symbol": symbols, "market_time": timestamps})
    ),
    OrdersDecidedThrough: event_of(
        OrdersDecidedThrough,
        st.fixed_dictionaries(
            {"symbol": symbols, "through": timestamps, "partition": st.integers(min_value=0, max_value=5)}
        ),
    ),
    StrategyOrderUpdate: event_of(
        StrategyOrderUpdate,
        _with(
            order_fields(),
            kind=st.sampled_from(OrderUpdateKind),
            source_event_id=st.uuids(),
            ended=st.booleans(),
            market_time=st.none() | timestamps,
            fill_quantity=non_negative,
            fill_price=st.none() | positive,
            cumulative_quantity=non_negative,
            remaining_quantity=non_negative,
            detail=st.text(max_size=100),
        ),
    ),
    PaperRiskOutcomesThrough: event_of(
        PaperRiskOutcomesThrough,
        st.fixed_dictionaries(
            {"symbol": symbols, "through": timestamps, "partition": st.integers(min_value=0, max_value=5)}
        ),
    ),
    PaperRiskOutcome: event_of(
        PaperRiskOutcome,
        st.fixed_dictionaries(
            {
                "account_id": identifiers,
                "order_id": identifiers,
                "symbol": symbols,
                "kind": st.sampled_from(RiskOutcomeKind),
                "at": timestamps,
                "cumulative": non_negative,
                "source_event_id": st.uuids(),
            },
            optional={"signed_fill": non_negative, "price": positive, "signed_remaining": non_negative},
        ),
    ),
    PaperOutcomesThrough: event_of(
        PaperOutcomesThrough, st.fixed_dictionaries({"symbol": symbols, "through": timestamps})
    ),
    PaperOrdersThrough: event_of(
        PaperOrdersThrough,
        st.fixed_dictionaries({"symbol": symbols, "source": identifiers, "through": timestamps}),
    ),
    OrderCancelRejected: event_of(
        OrderCancelRejected,
        _with(order_reference(), reason=st.sampled_from(ModifyRejectReason), detail=st.text(max_size=100)),
    ),
    OrderAmendRejected: event_of(
        OrderAmendRejected,
        _with(order_reference(), reason=st.sampled_from(ModifyRejectReason), detail=st.text(max_size=100)),
    ),
}


operators = st.text(_ALNUM + "._@:-", min_size=1, max_size=64)
reasons = st.text(min_size=1, max_size=500).filter(str.strip)
_issued = {"issued_by": operators, "reason": reasons}
# A limit change: a count is whole, every other amount any positive decimal below 1e15.
_WHOLE = {LimitName.MAX_OPEN_ORDERS, LimitName.MAX_ORDERS_PER_WINDOW}
limit_changes = st.dictionaries(
    st.sampled_from(LimitName),
    decimals_between("0.00001", "99999999999998", places=5),
    max_size=len(LimitName),
).map(lambda found: {n: v.to_integral_value() + 1 if n in _WHOLE else v for n, v in found.items()})


def _limits_body(changes: dict[LimitName, Decimal], reset: list[LimitName]) -> dict[str, Any]:
    reset = [name for name in reset if name not in changes] or ([] if changes else [LimitName.PRICE_COLLAR])
    return {"limits": changes, "reset": tuple(dict.fromkeys(reset))}


CONTROL_STRATEGIES: dict[type[Event], st.SearchStrategy[Event]] = {
    KillSwitchSet: event_of(
        KillSwitchSet,
        st.fixed_dictionaries({**_issued, "account_id": st.none() | identifiers, "engaged": st.booleans()}),
    ),
    StrategyHaltSet: event_of(
        StrategyHaltSet,
        st.fixed_dictionaries({**_issued, "strategy_id": identifiers, "halted": st.booleans()}),
    ),
    AccountLimitsSet: event_of(
        AccountLimitsSet,
        st.builds(
            lambda issued, account, body: {**issued, "account_id": account, **body},
            st.fixed_dictionaries(_issued),
            identifiers,
            st.builds(_limits_body, limit_changes, st.lists(st.sampled_from(LimitName), max_size=3)),
        ),
    ),
}

EVENT_STRATEGIES: dict[type[Event], st.SearchStrategy[Event]] = {
    **LIFECYCLE_STRATEGIES,
    OrderRequested: event_of(
        OrderRequested, st.builds(lambda t, v: {**t, "venue": v}, order_terms(), st.none() | venues)
    ),
    OrderValidated: event_of(OrderValidated, order_terms()),
    OrderRejected: event_of(
        OrderRejected,
        st.fixed_dictionaries(
            {
                "order_id": identifiers,
                "account_id": identifiers,
                "symbol": symbols,
                "side": st.sampled_from(Side),
                "reason": st.sampled_from(RejectReason),
                "detail": st.text(max_size=200),
            }
        ),
    ),
    ExchangeRouted: event_of(ExchangeRouted, routed_body()),
    SubmitPaperOrder: event_of(SubmitPaperOrder, routed_body()),
    OrderCreated: event_of(
        OrderCreated,
        st.builds(
            lambda t, v, vid: {**t, "venue": v, "venue_order_id": vid}, order_terms(), venues, identifiers
        ),
    ),
    OrderExecuted: event_of(OrderExecuted, executed_body()),
    PositionUpdated: event_of(
        PositionUpdated,
        st.fixed_dictionaries(
            {
                "account_id": identifiers,
                "symbol": symbols,
                "quantity": signed,
                "average_cost": non_negative,
                "realized_pnl": signed,
                "unrealized_pnl": signed,
                "fees_paid": non_negative,
                "mark_price": st.none() | positive,
                "quote_currency": currencies,
                "last_fill_id": st.none() | identifiers,
            }
        ),
    ),
    RiskBreached: event_of(
        RiskBreached,
        st.fixed_dictionaries(
            {
                "account_id": identifiers,
                "rule": st.from_regex(r"[a-z0-9_.]{1,64}", fullmatch=True),
                "symbol": st.none() | symbols,
                "limit": signed,
                "observed": signed,
                "severity": st.sampled_from(Severity),
            }
        ),
    ),
    PortfolioRebalanced: event_of(
        PortfolioRebalanced,
        st.fixed_dictionaries(
            {
                "portfolio_id": identifiers,
                "account_id": identifiers,
                "target_weights": st.dictionaries(symbols, decimals_between("0", "1", 8), max_size=5),
                "order_ids": st.lists(identifiers, max_size=5).map(tuple),
                "failed_order_ids": st.lists(identifiers, max_size=2).map(tuple),
                "status": st.sampled_from(RebalanceStatus),
                "detail": st.text(max_size=100),
            }
        ),
    ),
    AlertTriggered: event_of(
        AlertTriggered,
        st.fixed_dictionaries(
            {
                "source": st.text(min_size=1, max_size=64),
                "severity": st.sampled_from(Severity),
                "message": st.text(min_size=1, max_size=200),
                "account_id": st.none() | identifiers,
            }
        ),
    ),
    PriceUpdated: event_of(
        PriceUpdated,
        st.fixed_dictionaries(
            {
                "venue": venues,
                "symbol": symbols,
                "price": positive,
                "bid_price": st.none() | positive,
                "ask_price": st.none() | positive,
                "market_time": timestamps,
            }
        ),
    ),
    OrderBookUpdated: event_of(OrderBookUpdated, book_body()),
    TradeTick: event_of(
        TradeTick,
        st.fixed_dictionaries(
            {
                "venue": venues,
                "symbol": symbols,
                "trade_id": st.text(_ALNUM, min_size=1, max_size=64),
                "price": positive,
                "quantity": positive,
                "aggressor_side": st.none() | st.sampled_from(Side),
                "market_time": timestamps,
            }
        ),
    ),
    QuoteTick: event_of(QuoteTick, quote_body()),
    **CONTROL_STRATEGIES,
}
