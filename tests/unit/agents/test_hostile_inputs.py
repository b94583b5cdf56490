"""Generated hostile messages on both input topics (market.ticks, orders.requested) through what the stages
do with them — decode, the tick guard, the market state, the market view, risk — with good messages around
each: nothing raises, every hostile one is dead-lettered or refused with a reason (or is harmless), the
good ones still go through, and risk limits hold afterwards."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from agents.market_view import MarketView
from schemas import (
    CODEC,
    EventDecodeError,
    OrderRequested,
    OrderValidated,
    QuoteTick,
    RejectReason,
    TradeTick,
)
from schemas.signing import keyring
from tests.hostile import MARKET, T0, Poison, hostile_orders, hostile_ticks
from tests.unit.trading.builders import ALL_VENUES, MARKETS_DIR_PATH
from topics.dead_letter import DeadLetterReason
from trading.config import MarketClock, RiskLimits, TickGuardConfig
from trading.market_state import VenueMarket, derive
from trading.markets import MarketCatalog
from trading.risk import AccountRiskState, Rejection, check_order, order_market_time
from trading.tick_guard import TickGuard
from venues.catalog import load_catalog

EXAMPLES = 1200  # per topic
LIMITS = RiskLimits()
HALTED = {"acct-halted": RiskLimits(kill_switch=True)}


@dataclass
class Outcome:
    """What the stage did with one message: dead-lettered (reason), refused by risk (reason), or taken."""

    dead_letter: str | None = None
    rejected: RejectReason | None = None
    accepted: Any = None


@dataclass
class Desk:
    """The market data and order stages' work on one message at a time, without Kafka: the same decode,
    the same guard and derivation, the view fed with what the market data stage publishes, and risk."""

    catalog: MarketCatalog
    guard: TickGuard = field(default_factory=lambda: TickGuard(TickGuardConfig(clock=MarketClock.LIVE)))
    view: MarketView = field(default_factory=MarketView)
    markets: dict[str, VenueMarket] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    clock: itertools.count[int] = field(default_factory=itertools.count)
    now: datetime = T0

    def tick(self) -> datetime:
        """Move the wall clock (and the good messages' market time) on by a millisecond."""
        self.now = T0 + timedelta(milliseconds=next(self.clock))
        return self.now

    def decode(self, raw: bytes, accepted: tuple[type, ...]) -> Any:
        """As `Stage._decode`: only `EventDecodeError` is expected; anything else raised is a crash."""
        try:
            event = CODEC.decode(raw)
        except EventDecodeError as exc:
            reason = DeadLetterReason.UNDECODABLE if exc.event_type is None else DeadLetterReason.INVALID
            return Outcome(dead_letter=f"{reason.value}: {exc.reason}")
        if not isinstance(event, accepted):
            return Outcome(dead_letter=DeadLetterReason.UNEXPECTED_TYPE.value)
        return event

    def on_tick(self, raw: bytes) -> Outcome:
        tick = self.decode(raw, (TradeTick, QuoteTick))
        if isinstance(tick, Outcome):
            return tick
        verdict = self.guard.judge(tick, self.now)
        if verdict is not None:
            return Outcome(dead_letter=f"{DeadLetterReason.QUARANTINED.value}: {verdict}")
        key = f"{tick.venue}:{tick.symbol}"
        self.markets[key], events = derive(self.markets.get(key, VenueMarket()), tick, sequence=0)
        for event in events:
            value = CODEC.encode(event)
            self.view.apply_record(value, keyring().sign(value))  # what every worker's view reads of it
        return Outcome(accepted=tick)

    def on_order(self, raw: bytes) -> Outcome:
        request = self.decode(raw, (OrderRequested,))
        if isinstance(request, Outcome):
            return request
        state = AccountRiskState()
        prices = self.view.risk_prices({request.symbol}, request.market_time, order_market_time(request))
        limits = HALTED.get(request.account_id, LIMITS)
        decision = check_order(request, state, self.catalog, prices, limits, used_order_ids=self.used)
        self.used.add(request.order_id)
        if isinstance(decision, Rejection):
            assert decision.detail
            return Outcome(rejected=decision.reason)
        return Outcome(accepted=(decision, prices[request.symbol]))


@pytest.fixture(scope="module")
def catalog() -> MarketCatalog:
    if not Path(MARKETS_DIR_PATH).is_dir():
        pytest.skip(f"ccxt market metadata not available at {MARKETS_DIR_PATH}")
    return load_catalog(Path(MARKETS_DIR_PATH), ALL_VENUES)


# --- good messages -------------------------------------------------------------------------------------


def good_quote(desk: Desk, venue: str = "binance") -> bytes:
    at = desk.tick()
    wiggle = Decimal(desk.now.microsecond % 7)
    tick = QuoteTick(
        venue=venue, symbol="BTC/USDT", bid_price=MARKET + wiggle, bid_size=Decimal(2),
        ask_price=MARKET + wiggle + 1, ask_size=Decimal(2), market_time=at,
    )  # fmt: skip
    return CODEC.encode(tick)


_good_orders = itertools.count()


def good_order(desk: Desk, **overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "order_id": f"good-{next(_good_orders)}",
        "account_id": "acct-good",
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "market",
        "quantity": Decimal("0.01"),
        "market_time": desk.now,
    }
    return CODEC.encode(OrderRequested(**(fields | overrides)))


# --- the tests -----------------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def harmless_tick(outcome: Outcome, desk: Desk) -> bool:
    """An accepted hostile tick is one a venue could print: near the market, at a sane time."""
    tick = outcome.accepted
    prices = [tick.price] if isinstance(tick, TradeTick) else [tick.bid_price, tick.ask_price]
    near = all(abs(p - MARKET) <= MARKET * Decimal("0.15") for p in prices)
    return near and abs(tick.market_time - desk.now) <= timedelta(seconds=300)


def assert_limits_hold(desk: Desk) -> None:
    reference = desk.view.reference_price("BTC/USDT", desk.now)
    assert reference is not None
    assert abs(reference - MARKET) < MARKET * Decimal("0.01"), reference
    # The issue's order: 1,000 BTC (about 60M USDT) against a 100,000 USDT max order notional.
    whale = desk.on_order(good_order(desk, quantity=Decimal(1000)))
    assert whale.rejected is RejectReason.MAX_ORDER_NOTIONAL
    small = desk.on_order(good_order(desk))
    assert isinstance(small.accepted, tuple)


def test_1000_hostile_ticks_between_good_ones(catalog: MarketCatalog) -> None:
    desk = Desk(catalog)
    for venue in ("binance", "kraken", "okx"):
        for _ in range(5):
            assert desk.on_tick(good_quote(desk, venue)).accepted
    seen: dict[str, int] = {}

    @SETTINGS
    @given(message=hostile_ticks())
    def hostile(message: bytes | Poison) -> None:
        assert desk.on_tick(good_quote(desk)).accepted
        raw = message.encode(desk.now) if isinstance(message, Poison) else message
        outcome = desk.on_tick(raw)
        if outcome.dead_letter is not None:
            assert outcome.dead_letter.split(":")[0] in {r.value for r in DeadLetterReason}
            kind = outcome.dead_letter.split(":")[0]
            if kind == DeadLetterReason.QUARANTINED.value:
                kind = outcome.dead_letter.split(": ")[1]
            seen[kind] = seen.get(kind, 0) + 1
        else:
            assert harmless_tick(outcome, desk), raw[:300]
            seen["harmless"] = seen.get("harmless", 0) + 1
        for venue in ("binance", "kraken", "okx"):
            assert desk.on_tick(good_quote(desk, venue)).accepted, venue

    hostile()
    assert sum(seen.values()) >= 1000
    # The generator reached every kind of refusal, not only garbage.
    for kind in ("undecodable", "invalid", "price_band_venue", "future_time", "stale_time"):
        assert seen.get(kind, 0) > 0, seen
    assert_limits_hold(desk)


def test_1000_hostile_orders_between_good_ones(catalog: MarketCatalog) -> None:
    desk = Desk(catalog)
    for venue in ("binance", "kraken", "okx"):
        for _ in range(5):
            desk.on_tick(good_quote(desk, venue))
    seen: dict[str, int] = {}

    @SETTINGS
    @given(raw=hostile_orders())
    def hostile(raw: bytes) -> None:
        desk.on_tick(good_quote(desk))
        outcome = desk.on_order(raw)
        if outcome.dead_letter is not None:
            kind = outcome.dead_letter.split(":")[0]
        elif outcome.rejected is not None:
            kind = outcome.rejected.value
        else:  # a mutation that left a valid order: it must be within every limit
            validated, reference = outcome.accepted
            assert isinstance(validated, OrderValidated)
            assert validated.quantity * (validated.limit_price or reference) <= LIMITS.max_order_notional
            kind = "validated"
        seen[kind] = seen.get(kind, 0) + 1
        assert isinstance(desk.on_order(good_order(desk)).accepted, tuple)

    hostile()
    assert sum(seen.values()) >= 1000
    for kind in ("undecodable", "invalid", "max_order_notional", "unknown_symbol", "kill_switch"):
        assert seen.get(kind, 0) > 0, seen
    assert_limits_hold(desk)


def test_the_issues_poisoned_tick_then_the_whale_order(catalog: MarketCatalog) -> None:
    """A quote at market time 2999 and BTC/USDT 1.5, then a market buy of 1,000 BTC: before, the tick
    became the latest price and the order (1,500 USDT at that price) passed risk. Now the tick is
    quarantined on either clock, and even in the view, one such price would not move the reference."""
    for clock in MarketClock:
        desk = Desk(catalog, guard=TickGuard(TickGuardConfig(clock=clock)))
        for _ in range(10):
            assert desk.on_tick(good_quote(desk)).accepted
        poison = QuoteTick(
            venue="binance", symbol="BTC/USDT", bid_price=Decimal("1.5"), bid_size=Decimal(1000),
            ask_price=Decimal("1.5"), ask_size=Decimal(1000), market_time=datetime(2999, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        outcome = desk.on_tick(CODEC.encode(poison))
        assert outcome.dead_letter is not None
        assert outcome.dead_letter.startswith(
            "quarantined: future_time" if clock is MarketClock.LIVE else "quarantined: price_band_venue"
        )
        assert desk.view.last_price("BTC/USDT") != Decimal("1.5")
        whale = OrderRequested(
            order_id=f"whale-{clock}", account_id="acct-1", symbol="BTC/USDT", side="buy",
            order_type="market", quantity=Decimal(1000),
        )  # fmt: skip
        assert desk.on_order(CODEC.encode(whale)).rejected is RejectReason.MAX_ORDER_NOTIONAL

    # Second line: had the price reached the view, the reference (as of the order's time) ignores it.
    view = MarketView()
    desk = Desk(catalog, view=view)
    for _ in range(10):
        desk.on_tick(good_quote(desk))
    derived = derive(VenueMarket(), poison, sequence=0)[1]
    for event in derived:
        value = CODEC.encode(event)
        view.apply_record(value, keyring().sign(value))
    assert view.last_price("BTC/USDT") == Decimal("1.5")  # what the old check valued the order at
    assert desk.on_order(CODEC.encode(whale)).rejected is RejectReason.MAX_ORDER_NOTIONAL
