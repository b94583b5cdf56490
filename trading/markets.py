"""A venue's rules for one market (precision, limits, fees), read from ccxt's unified market structure.

The core takes ccxt's market dict as plain data, so it never imports ccxt; `venues.catalog` loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from enum import Enum
from typing import Any


class PrecisionMode(Enum):
    """ccxt's two ways to state precision: a count of decimal places, or the step itself."""

    DECIMAL_PLACES = "decimal_places"
    TICK_SIZE = "tick_size"


def _decimal(value: Any) -> Decimal | None:
    # str() first: ccxt JSON numbers arrive as floats, and Decimal(0.1) is not 0.1.
    return None if value is None else Decimal(str(value))


def _step(value: Any, mode: PrecisionMode) -> Decimal | None:
    number = _decimal(value)
    if number is None:
        return None
    if mode is PrecisionMode.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    return number.normalize()


def _round_to_step(value: Decimal, step: Decimal | None, rounding: str) -> Decimal:
    if step is None:
        return value
    # A step of 10**n (most venues' amounts and ticks, rounded several times for every order): the same
    # number with the same exponent as the division below, at a third of its cost.
    _, step_digits, ten = step.as_tuple()
    if step_digits == (1,) and isinstance(ten, int) and value.is_finite():
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if exponent >= ten:
            return value  # a multiple of the step already, as the division leaves it
        if value.adjusted() - ten < 27:  # the quantized digits fit the default context
            return value.quantize(step, rounding=rounding)
    # Enough digits that the division is exact: at the default 28 it could round up before the floor.
    with localcontext() as context:
        context.prec = max(28, len(value.as_tuple().digits) + len(step.as_tuple().digits) + 30)
        return (value / step).to_integral_value(rounding=rounding) * step


def round_down_to_step(value: Decimal, step: Decimal | None) -> Decimal:
    return _round_to_step(value, step, ROUND_FLOOR)


def round_up_to_step(value: Decimal, step: Decimal | None) -> Decimal:
    return _round_to_step(value, step, ROUND_CEILING)


@dataclass(frozen=True)
class MarketRules:
    """What one venue accepts for one symbol; `None` means the venue states no such limit."""

    venue: str
    symbol: str
    base: str
    quote: str
    active: bool
    amount_step: Decimal | None
    price_step: Decimal | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_price: Decimal | None
    max_price: Decimal | None
    min_cost: Decimal | None
    max_cost: Decimal | None
    taker_fee: Decimal
    maker_fee: Decimal

    @classmethod
    def from_ccxt(cls, venue: str, market: Mapping[str, Any], mode: PrecisionMode) -> MarketRules:
        limits = market.get("limits") or {}

        def limit(kind: str, bound: str) -> Decimal | None:
            return _decimal((limits.get(kind) or {}).get(bound))

        precision = market.get("precision") or {}
        return cls(
            venue=venue,
            symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            active=market.get("active") is not False,  # ccxt leaves None when the venue does not say
            amount_step=_step(precision.get("amount"), mode),
            price_step=_step(precision.get("price"), mode),
            min_amount=limit("amount", "min"),
            max_amount=limit("amount", "max"),
            min_price=limit("price", "min"),
            max_price=limit("price", "max"),
            min_cost=limit("cost", "min"),
            max_cost=limit("cost", "max"),
            taker_fee=_decimal(market.get("taker")) or Decimal(0),
            maker_fee=_decimal(market.get("maker")) or Decimal(0),
        )

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Down to the amount step: never more than asked."""
        return round_down_to_step(quantity, self.amount_step)

    def round_limit_price(self, price: Decimal, *, buy: bool) -> Decimal:
        """To the tick, in the direction that never pays more (buy) or accepts less (sell) than asked."""
        if buy:
            return round_down_to_step(price, self.price_step)
        return round_up_to_step(price, self.price_step)


def guess_precision_mode(markets: Iterable[Mapping[str, Any]]) -> PrecisionMode:
    """Digit counts are whole numbers; a file whose every precision is whole (and some above 1) uses them."""
    values = [
        Decimal(str(value))
        for market in markets
        for value in (market.get("precision") or {}).values()
        if value is not None
    ]
    if values and all(v == v.to_integral_value() for v in values) and any(v > 1 for v in values):
        return PrecisionMode.DECIMAL_PLACES
    return PrecisionMode.TICK_SIZE


class MarketCatalog:
    """Every venue's rules, looked up by venue and symbol or by symbol across venues."""

    def __init__(self, rules: Iterable[MarketRules]) -> None:
        self._rules = {(rule.venue, rule.symbol): rule for rule in rules}
        self._by_symbol: dict[str, list[MarketRules]] = {}
        for rule in self._rules.values():
            self._by_symbol.setdefault(rule.symbol, []).append(rule)

    def get(self, venue: str, symbol: str) -> MarketRules | None:
        return self._rules.get((venue, symbol))

    def listings(self, symbol: str) -> list[MarketRules]:
        """Every venue that lists `symbol`, active or not, in venue order."""
        return sorted(self._by_symbol.get(symbol, []), key=lambda rule: rule.venue)

    def venues(self) -> list[str]:
        return sorted({venue for venue, _ in self._rules})

    def __len__(self) -> int:
        return len(self._rules)
