"""Market rules from ccxt metadata (both precision modes), rounding, and the catalog."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.trading.builders import D, rules
from trading.markets import (
    MarketCatalog,
    MarketRules,
    PrecisionMode,
    guess_precision_mode,
    round_down_to_step,
    round_up_to_step,
)
from venues.catalog import load_catalog, load_venue_rules


def markets_of(markets_dir: Path, venue: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((markets_dir / f"{venue}.json").read_bytes())
    return data


@pytest.mark.parametrize(
    ("venue", "mode"),
    [
        ("binance", PrecisionMode.DECIMAL_PLACES),
        ("kraken", PrecisionMode.TICK_SIZE),
        ("bitstamp", PrecisionMode.TICK_SIZE),
        ("bybit", PrecisionMode.TICK_SIZE),
        ("coinbase", PrecisionMode.TICK_SIZE),
        ("okx", PrecisionMode.TICK_SIZE),
    ],
)
def test_guess_precision_mode_of_real_files(markets_dir: Path, venue: str, mode: PrecisionMode) -> None:
    assert guess_precision_mode(markets_of(markets_dir, venue).values()) is mode


def test_binance_btc_usdt_in_decimal_places(markets_dir: Path) -> None:
    market = markets_of(markets_dir, "binance")["BTC/USDT"]
    assert market["precision"]["amount"] == 5  # digits, not a step
    btc = MarketRules.from_ccxt("binance", market, PrecisionMode.DECIMAL_PLACES)
    assert btc == MarketRules(
        venue="binance",
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        active=True,
        amount_step=D("0.00001"),
        price_step=D("0.01"),
        min_amount=D("0.00001"),
        max_amount=D(9000),
        min_price=D("0.01"),
        max_price=D(1000000),
        min_cost=D(5),
        max_cost=D(9000000),
        taker_fee=D("0.001"),
        maker_fee=D("0.001"),
    )


def test_kraken_btc_usdt_in_tick_sizes(markets_dir: Path) -> None:
    btc = MarketRules.from_ccxt(
        "kraken", markets_of(markets_dir, "kraken")["BTC/USDT"], PrecisionMode.TICK_SIZE
    )
    assert btc.amount_step == D("1E-8")
    assert btc.price_step == D("0.1")
    assert btc.min_amount == D("0.0001")
    assert btc.max_amount is None
    assert btc.min_cost is None
    assert btc.min_price == D("0.1")
    assert (btc.taker_fee, btc.maker_fee) == (D("0.0026"), D("0.0016"))


def test_the_wrong_mode_would_give_nonsense_steps(markets_dir: Path) -> None:
    # the guess matters: binance's "5" read as a tick would be a step of 5 BTC
    market = markets_of(markets_dir, "binance")["BTC/USDT"]
    assert MarketRules.from_ccxt("binance", market, PrecisionMode.TICK_SIZE).amount_step == D(5)


def test_load_catalog_from_real_files(markets_dir: Path) -> None:
    catalog = load_catalog(markets_dir, ("binance", "kraken"))
    assert catalog.venues() == ["binance", "kraken"]
    assert len(catalog) == 18 + 8
    binance = catalog.get("binance", "BTC/USDT")
    kraken = catalog.get("kraken", "BTC/USDT")
    assert binance is not None
    assert kraken is not None
    assert binance.amount_step == D("0.00001")
    assert kraken.amount_step == D("1E-8")
    assert catalog.get("binance", "BTC/USD") is None


def test_load_catalog_missing_venue_file(markets_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_catalog(markets_dir, ("binance", "nowhere"))


def ccxt_market(**overrides: Any) -> dict[str, Any]:
    market: dict[str, Any] = {
        "symbol": "ETH/USDT",
        "base": "ETH",
        "quote": "USDT",
        "active": True,
        "precision": {"amount": 4, "price": 2},
        "limits": {"amount": {"min": 0.0001, "max": None}, "cost": {"min": 10}},
        "taker": 0.1,
        "maker": 0.002,
    }
    return market | overrides


def test_from_ccxt_reads_floats_through_str() -> None:
    eth = MarketRules.from_ccxt("alpha", ccxt_market(), PrecisionMode.DECIMAL_PLACES)
    assert eth.taker_fee == D("0.1")
    assert str(eth.taker_fee) == "0.1"  # not 0.1000000000000000055511151231257827...
    assert eth.min_amount == D("0.0001")
    assert (eth.amount_step, eth.price_step) == (D("0.0001"), D("0.01"))
    assert eth.max_amount is None
    assert (eth.min_price, eth.max_price, eth.max_cost) == (None, None, None)
    assert eth.min_cost == D(10)


@pytest.mark.parametrize(("active", "expected"), [(True, True), (None, True), (False, False)])
def test_active_unless_ccxt_says_false(active: bool | None, expected: bool) -> None:
    assert (
        MarketRules.from_ccxt("alpha", ccxt_market(active=active), PrecisionMode.TICK_SIZE).active is expected
    )


def test_missing_fees_precision_and_limits() -> None:
    bare = {"symbol": "ETH/USDT", "base": "ETH", "quote": "USDT"}
    eth = MarketRules.from_ccxt("alpha", bare, PrecisionMode.TICK_SIZE)
    assert (eth.amount_step, eth.price_step, eth.min_amount, eth.min_cost) == (None, None, None, None)
    assert (eth.taker_fee, eth.maker_fee) == (D(0), D(0))
    assert eth.active


def test_tick_size_mode_keeps_odd_steps() -> None:
    market = ccxt_market(precision={"amount": 0.5, "price": 0.25})
    eth = MarketRules.from_ccxt("alpha", market, PrecisionMode.TICK_SIZE)
    assert (eth.amount_step, eth.price_step) == (D("0.5"), D("0.25"))


@pytest.mark.parametrize(
    ("precisions", "mode"),
    [
        ([{"amount": 8, "price": 2}], PrecisionMode.DECIMAL_PLACES),
        ([{"amount": 8, "price": None}, {"amount": 0, "price": 1}], PrecisionMode.DECIMAL_PLACES),
        ([{"amount": 1, "price": 1}], PrecisionMode.TICK_SIZE),  # all whole but none above 1
        ([{"amount": 8, "price": 0.5}], PrecisionMode.TICK_SIZE),
        ([{"amount": 1e-8, "price": 0.01}], PrecisionMode.TICK_SIZE),
        ([{}], PrecisionMode.TICK_SIZE),
        ([], PrecisionMode.TICK_SIZE),
    ],
)
def test_guess_precision_mode(precisions: list[dict[str, Any]], mode: PrecisionMode) -> None:
    assert guess_precision_mode([{"precision": p} for p in precisions]) is mode


def test_load_venue_rules_guesses_per_venue() -> None:
    markets = {"ETH/USDT": ccxt_market(), "BTC/USDT": ccxt_market(symbol="BTC/USDT", base="BTC")}
    loaded = load_venue_rules("alpha", markets)
    assert [(r.symbol, r.amount_step) for r in loaded] == [
        ("ETH/USDT", D("0.0001")),
        ("BTC/USDT", D("0.0001")),
    ]


@pytest.mark.parametrize(
    ("quantity", "step", "expected"),
    [
        ("1.23456", "0.001", "1.234"),
        ("1.234", "0.001", "1.234"),
        ("0.0009", "0.001", "0"),
        ("0.123456789", "1E-8", "0.12345678"),
        ("7.9", "0.5", "7.5"),
        ("1.23456", None, "1.23456"),
    ],
)
def test_round_quantity_down(quantity: str, step: str | None, expected: str) -> None:
    market = rules(amount_step=None if step is None else D(step))
    assert market.round_quantity(D(quantity)) == D(expected)


@pytest.mark.parametrize(
    ("price", "buy", "expected"),
    [
        ("100.74", True, "100.5"),
        ("100.74", False, "101.0"),
        ("100.26", False, "100.5"),
        ("100.5", True, "100.5"),
        ("100.5", False, "100.5"),
    ],
)
def test_round_limit_price_never_worse_than_asked(price: str, buy: bool, expected: str) -> None:
    market = rules(price_step=D("0.5"))
    assert market.round_limit_price(D(price), buy=buy) == D(expected)
    assert rules(price_step=None).round_limit_price(D(price), buy=buy) == D(price)


steps = st.sampled_from([D("1E-8"), D("0.00001"), D("0.001"), D("0.01"), D("0.1"), D("0.5"), D(1), D(5)])
values = st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8)


@given(value=values, step=steps)
def test_rounding_lands_on_the_step_within_one_step(value: Decimal, step: Decimal) -> None:
    down, up = round_down_to_step(value, step), round_up_to_step(value, step)
    assert down <= value <= up
    assert value - down < step
    assert up - value < step
    assert down % step == 0
    assert up % step == 0


def test_round_down_never_exceeds_a_long_value() -> None:
    value = D("0.99999999999999999999999999999")  # 29 nines
    assert round_down_to_step(value, D("1E-8")) <= value


def test_catalog_listings_are_sorted_by_venue_and_include_inactive() -> None:
    catalog = MarketCatalog(
        [
            rules("okx", "BTC/USDT"),
            rules("binance", "BTC/USDT"),
            rules("kraken", "BTC/USDT", active=False),
            rules("binance", "ETH/USDT"),
        ]
    )
    assert [(r.venue, r.active) for r in catalog.listings("BTC/USDT")] == [
        ("binance", True),
        ("kraken", False),
        ("okx", True),
    ]
    assert [r.venue for r in catalog.listings("ETH/USDT")] == ["binance"]
    assert catalog.listings("XRP/USDT") == []
    assert catalog.venues() == ["binance", "kraken", "okx"]
    assert len(catalog) == 4
    assert catalog.get("kraken", "BTC/USDT") == rules("kraken", "BTC/USDT", active=False)
    assert catalog.get("kraken", "ETH/USDT") is None


def test_catalog_last_rules_win_for_the_same_market() -> None:
    catalog = MarketCatalog([rules("binance", taker_fee=D("0.002")), rules("binance", taker_fee=D("0.001"))])
    assert len(catalog) == 1
    assert [r.taker_fee for r in catalog.listings("BTC/USDT")] == [D("0.001")]


def test_real_catalog_btc_usdt_listings(real_catalog: MarketCatalog) -> None:
    listings = real_catalog.listings("BTC/USDT")
    assert [r.venue for r in listings] == ["binance", "bitstamp", "bybit", "coinbase", "kraken", "okx"]
    assert {r.venue: r.amount_step for r in listings} == {
        "binance": D("0.00001"),
        "bitstamp": D("1E-8"),
        "bybit": D("0.000001"),
        "coinbase": D("1E-8"),
        "kraken": D("1E-8"),
        "okx": D("1E-8"),
    }
    assert {r.venue: r.price_step for r in listings} == {
        "binance": D("0.01"),
        "bitstamp": D(1),
        "bybit": D("0.1"),
        "coinbase": D("0.01"),
        "kraken": D("0.1"),
        "okx": D("0.1"),
    }


def _by_division(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """The general rounding (exact division, integral, times the step), which a step of 10**n skips."""
    with localcontext() as context:
        context.prec = max(28, len(value.as_tuple().digits) + len(step.as_tuple().digits) + 30)
        return (value / step).to_integral_value(rounding=rounding) * step


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=None),
    step=st.sampled_from(
        [D("1E-12"), D("1E-8"), D("0.001"), D("0.10"), D("1"), D("1.0"), D("1E+1"), D("100")]
    ),
    down=st.booleans(),
)
def test_rounding_to_a_power_of_ten_is_the_division_digit_for_digit(
    value: Decimal, step: Decimal, down: bool
) -> None:
    rounding = ROUND_FLOOR if down else ROUND_CEILING
    rounded = (round_down_to_step if down else round_up_to_step)(value, step)
    assert str(rounded) == str(_by_division(value, step, rounding))  # the same digits and exponent
