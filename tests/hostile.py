"""Hypothesis strategies for hostile messages on the input topics (market.ticks, orders.requested): bytes
that are no JSON, JSON that is no event, events with fields replaced by hostile values (wrong types, huge,
negative, NaN, far-future), and valid events no market or limit allows (a price far off the market, a time
far off, an order far too big)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas import CODEC, OrderRequested, QuoteTick, TradeTick

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # the base events' market time
MARKET = Decimal(60000)  # BTC/USDT, as the good messages around the hostile ones quote it

# --- hostile messages ----------------------------------------------------------------------------------

HUGE = "9" * 400
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what JSON numbers orjson writes
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.sampled_from(
        [
            "NaN",
            "-NaN",
            "Infinity",
            "-Infinity",
            "sNaN",
            "1e999999",
            "-1e999999",
            "1e-999999",
            "0",
            "-0",
            "-1",
            "-0.0000001",
            "1.5",
            "0E-1000",
            HUGE,
            "-" + HUGE,
            "0x10",
            "1_000",
            " 1 ",
            "",
            "2999-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999+14:00",
            "2026-12-03T12:00:00",
            "1970-01-01T00:00:00Z",
            "not a time",
            "\x00",
            "binance",
            "BTC/USDT",
            "../../etc/passwd",
            "a" * 2000,
        ]
    ),
)
JSON = st.recursive(
    HOSTILE_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner)
)
DEEP = st.integers(min_value=1, max_value=2000).map(lambda n: b"[" * n + b"]" * n)


def mutated(base: dict[str, Any], fields: list[str]) -> st.SearchStrategy[bytes]:
    """`base` (a valid event as JSON) with some fields replaced by hostile values, or dropped."""

    def build(changes: dict[str, Any], dropped: list[str]) -> bytes:
        value = {k: v for k, v in (base | changes).items() if k not in dropped}
        return orjson.dumps(value)

    changes = st.dictionaries(st.sampled_from(fields), JSON, min_size=1, max_size=4)
    return st.builds(build, changes, st.lists(st.sampled_from(fields), max_size=2))


def tick_dicts() -> tuple[dict[str, Any], dict[str, Any]]:
    at = T0
    trade = TradeTick(
        venue="binance", symbol="BTC/USDT", trade_id="t-1", price=MARKET, quantity=Decimal(1), market_time=at
    )
    quote = QuoteTick(
        venue="binance", symbol="BTC/USDT", bid_price=MARKET, bid_size=Decimal(1), ask_price=MARKET + 1,
        ask_size=Decimal(1), market_time=at,
    )  # fmt: skip
    return orjson.loads(CODEC.encode(trade)), orjson.loads(CODEC.encode(quote))


PRICES = st.one_of(
    st.decimals(min_value=Decimal("1e-30"), max_value=Decimal("1e30"), allow_nan=False, places=None),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e7"), places=2),
    st.sampled_from([Decimal("1.5"), Decimal("1e999999"), Decimal("1e-999999"), MARKET * 2, MARKET / 2]),
).filter(lambda p: p > 0 and not MARKET * Decimal("0.85") < p < MARKET * Decimal("1.15"))
TIMES = st.one_of(
    st.just(datetime(2999, 1, 1, tzinfo=UTC)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
).filter(lambda t: not T0 - timedelta(seconds=600) < t < T0 + timedelta(days=1))


@dataclass(frozen=True)
class Poison:
    """A tick the schema accepts but no market printed: a price far off the market (at the desk's time
    unless `at` is set), or a time far off."""

    venue: str
    trade: bool
    price: Decimal
    at: datetime | None

    def encode(self, now: datetime) -> bytes:
        at = self.at or now
        tick: TradeTick | QuoteTick
        if self.trade:
            tick = TradeTick(
                venue=self.venue, symbol="BTC/USDT", trade_id="p", price=self.price, quantity=Decimal(1),
                market_time=at,
            )  # fmt: skip
        else:
            tick = QuoteTick(
                venue=self.venue, symbol="BTC/USDT", bid_price=self.price, bid_size=Decimal(1),
                ask_price=self.price, ask_size=Decimal(1), market_time=at,
            )  # fmt: skip
        return CODEC.encode(tick)


VENUES = st.sampled_from(["binance", "kraken", "evil", "okx"])
POISONS = st.one_of(
    st.builds(Poison, VENUES, st.booleans(), PRICES, st.one_of(st.none(), TIMES)),
    st.builds(Poison, VENUES, st.booleans(), st.integers(-50, 50).map(lambda d: MARKET + d), TIMES),
)


def hostile_ticks() -> st.SearchStrategy[bytes | Poison]:
    trade, quote = tick_dicts()
    return st.one_of(
        st.binary(max_size=300),
        JSON.map(orjson.dumps),
        DEEP,
        mutated(trade, ["price", "quantity", "market_time", "venue", "symbol", "event_type", "version"]),
        mutated(quote, ["bid_price", "ask_price", "bid_size", "market_time", "venue", "event_type"]),
        POISONS,
    )


def order_dict() -> dict[str, Any]:
    order = OrderRequested(
        order_id="o-1", account_id="acct-x", symbol="BTC/USDT", side="buy", order_type="limit",
        quantity=Decimal(1), limit_price=MARKET, market_time=T0,
    )  # fmt: skip
    return orjson.loads(CODEC.encode(order))


@st.composite
def valid_hostile_orders(draw: st.DrawFn) -> bytes:
    """Orders the schema accepts that no limit allows: far too big, far off the market, unknown symbols,
    absurd precision."""
    fields: dict[str, Any] = {
        "order_id": f"h-{draw(st.integers(0, 10**12))}",
        "account_id": draw(st.sampled_from(["acct-x", "acct-halted", "a" * 64])),
        "symbol": draw(st.sampled_from(["BTC/USDT", "BTC/USDT", "NOPE/USDT", "BTC/USDT:USDT"])),
        "side": draw(st.sampled_from(["buy", "sell"])),
        "order_type": "market",
        "quantity": draw(
            st.sampled_from(
                [Decimal(1000), Decimal(2), Decimal("1e30"), Decimal("1e999999"), Decimal("1e-999999")]
            )
        ),
        "market_time": draw(st.one_of(st.none(), st.just(datetime(2999, 1, 1, tzinfo=UTC)), TIMES)),
    }
    if draw(st.booleans()):
        fields |= {"order_type": "limit", "limit_price": draw(PRICES)}
    return CODEC.encode(OrderRequested(**fields))


def hostile_orders() -> st.SearchStrategy[bytes]:
    base = order_dict()
    order_fields = [
        "quantity", "limit_price", "symbol", "side", "order_type", "market_time", "account_id", "order_id",
        "venue", "event_type", "version", "time_in_force",
    ]  # fmt: skip
    return st.one_of(
        st.binary(max_size=300),
        JSON.map(orjson.dumps),
        DEEP,
        mutated(base, order_fields),
        valid_hostile_orders(),
    )
