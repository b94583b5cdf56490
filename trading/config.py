"""Trading configuration: risk limits per account (with defaults), routing weights, paper venue settings.

Loaded from a TOML file (`config/trading.toml` by default, `ZVT_TRADING_CONFIG` to override): limits are
configuration, not code, and an unknown key is an error rather than a silently ignored typo.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RiskLimits(_Config):
    """One account's pre-trade limits; notional amounts are in the quote currency."""

    kill_switch: bool = False
    max_order_notional: Decimal = Field(default=Decimal(100_000), gt=0)
    max_position_notional: Decimal = Field(default=Decimal(250_000), gt=0)  # per symbol
    max_gross_exposure: Decimal = Field(default=Decimal(1_000_000), gt=0)  # all symbols of the account
    max_open_orders: int = Field(default=50, gt=0)
    max_orders_per_window: int = Field(default=100, gt=0)
    rate_window_seconds: Decimal = Field(default=Decimal(1), gt=0)
    price_collar: Decimal = Field(default=Decimal("0.05"), gt=0)  # max |limit - last| / last


class MonitorLimits(_Config):
    """Limits the risk monitor watches on live positions."""

    max_gross_exposure: Decimal = Field(default=Decimal(1_000_000), gt=0)
    max_drawdown: Decimal = Field(default=Decimal(50_000), gt=0)  # from the account's peak net PnL
    # Watched by the risk monitor workflow (`trading.risk_metrics`) on recent price history.
    max_var: Decimal = Field(default=Decimal(25_000), gt=0)
    var_confidence: Decimal = Field(default=Decimal("0.95"), gt=0, lt=1)
    # A breach of one of these rules (e.g. "gross_exposure") makes the monitor workflow de-risk the account:
    # a portfolio.rebalance of its long holdings down to `derisk_scale` of what they are. Empty: alerts only.
    derisk_rules: tuple[str, ...] = ()
    derisk_scale: Decimal = Field(default=Decimal("0.5"), ge=0, lt=1)
    # A breach that lasts (seen again by the next runs) is alerted again only this long after its last
    # alert; it is de-risked once while it lasts.
    realert_seconds: Decimal = Field(default=Decimal(3600), gt=0)


class RoutingWeights(_Config):
    price: Decimal = Decimal(1)
    size: Decimal = Decimal("0.5")
    latency_per_second: Decimal = Decimal(1)  # score lost per second of measured venue latency
    max_legs: int = Field(default=3, gt=0)


class PaperSettings(_Config):
    latency_ms: Decimal = Field(default=Decimal(50), ge=0)  # order reaches the paper book this much later
    # Book tops kept per venue and symbol for fills "as of" an order's market time: enough to cover how far
    # the order flow lags the market data (a replay at full speed runs far ahead of the orders it causes).
    book_history: int = Field(default=16_384, gt=0)
    # The paper matching engine (`trading.paper_matching`, run with ZVT_PAPER_ENGINE) takes a book older
    # than this at an order's arrival for no book at all (`stale_book`).
    max_book_age_seconds: Decimal = Field(default=Decimal(10), gt=0)


class MarketClock(StrEnum):
    """Which clock judges a tick's market time."""

    # Recorded data at any speed: only market time itself (per venue and symbol it must not go back), so
    # the same data gives the same outcome however fast it is replayed.
    REPLAY = "replay"
    # A live feed: also the wall clock the worker passes in (not too far ahead of it, not too old).
    LIVE = "live"


class TickGuardConfig(_Config):
    """What a tick must satisfy to move a price (`trading.tick_guard`), and how risk values an order.

    The bands are wide enough for real moves within a minute and for the spread between venues (the
    recorded binance and kraken samples pass with no quarantine), and far too narrow for a print of 1.5
    for BTC/USDT."""

    clock: MarketClock = MarketClock.REPLAY
    # Live: how far a tick's market time may be ahead of the wall clock, and behind it.
    max_future_seconds: Decimal = Field(default=Decimal(10), ge=0)
    max_age_seconds: Decimal = Field(default=Decimal(300), gt=0)
    # Per venue and symbol, market time may go back this much (a live venue's trade and quote streams
    # interleave a little out of order); any more is `time_backwards`.
    backwards_tolerance_seconds: Decimal = Field(default=Decimal(0), ge=0)
    band: Decimal = Field(default=Decimal("0.10"), gt=0)  # max |price - the venue's recent median| / median
    cross_venue_band: Decimal = Field(default=Decimal("0.10"), gt=0)  # ... from the other venues' median
    window: int = Field(default=32, gt=0)  # recent prices per venue and symbol the medians are taken over
    min_samples: int = Field(default=3, gt=0)  # prices a venue needs before its median judges anything
    # Another venue's prices count in the cross-venue band only while its last tick is this close in
    # market time (recordings of different days are not compared).
    cross_venue_max_age_seconds: Decimal = Field(default=Decimal(60), gt=0)
    # Risk values an order at the median over venues of each venue's median (of its last `window` prices),
    # over the venues whose latest price as of the order's time is at most this much older than the newest.
    reference_window_seconds: Decimal = Field(default=Decimal(60), gt=0)


class TradingConfig(_Config):
    default_limits: RiskLimits = RiskLimits()
    accounts: dict[str, RiskLimits] = {}
    monitor: MonitorLimits = MonitorLimits()
    routing: RoutingWeights = RoutingWeights()
    paper: PaperSettings = PaperSettings()
    tick_guard: TickGuardConfig = TickGuardConfig()
    venues: tuple[str, ...] = ("binance", "kraken", "coinbase", "okx", "bybit", "bitstamp")
    # Venues traded for real through ccxt (keys from ZVT_<VENUE>_API_KEY/_SECRET); all others are paper.
    live_venues: tuple[str, ...] = ()
    live_sandbox: bool = True

    def limits_for(self, account_id: str) -> RiskLimits:
        return self.accounts.get(account_id, self.default_limits)

    @classmethod
    def from_toml(cls, path: Path) -> TradingConfig:
        with path.open("rb") as handle:
            return cls.model_validate(tomllib.load(handle))
