"""Value types shared by every event: money and quantities as exact Decimals, identifiers, enums.

Decimals serialise as JSON strings (pydantic's JSON mode), so a round trip through Kafka or Redis is exact.
NaN and infinities are refused by pydantic's Decimal validation.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

# Strictly positive: an order quantity, a fill size, a trade size.
Quantity = Annotated[Decimal, Field(gt=0)]
# Zero allowed: remaining or cumulative quantity, a book level being removed.
NonNegativeQuantity = Annotated[Decimal, Field(ge=0)]
# Signed: a position (negative when short).
SignedQuantity = Decimal
Price = Annotated[Decimal, Field(gt=0)]
# Signed amounts in a quote or settlement currency: PnL, exposure, notional.
Money = Decimal
NonNegativeMoney = Annotated[Decimal, Field(ge=0)]
# A fraction such as a fee rate or a portfolio weight.
Ratio = Annotated[Decimal, Field(ge=-1, le=1)]

# ccxt unified symbols: BASE/QUOTE, with :SETTLE for derivatives and -EXPIRY... for dated contracts.
Symbol = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9._]+/[A-Za-z0-9._]+(:[A-Za-z0-9._]+(-[A-Za-z0-9._]+)*)?$", max_length=64
    ),
]
# ccxt exchange ids (binance, kraken, okx, ...) and our own venues (paper).
Venue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=32)]
# Account, strategy, portfolio and order ids: printable, no spaces, short enough for exchange client ids.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]+$", min_length=1, max_length=64)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._]+$", min_length=1, max_length=16)]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"  # a market order once the stop price trades (or is quoted)
    STOP_LIMIT = "stop_limit"  # a limit order once the stop price trades (or is quoted)

    @property
    def is_stop(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)

    @property
    def has_limit(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class TriggerSource(StrEnum):
    """What a stop order watches: the venue's trades (last price), or its quotes (the side the order takes:
    the ask for a buy stop, the bid for a sell stop)."""

    TRADE = "trade"
    QUOTE = "quote"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
