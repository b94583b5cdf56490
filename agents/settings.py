"""Settings of the agent worker: processing guarantee, web monitor, where market rules and limits live."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.settings import REPO_ROOT, default_env_file
from strategies.config import StrategiesConfig
from trading.config import TradingConfig


class Guarantee(StrEnum):
    # Idempotent: at-least-once delivery, deterministic event ids, and every agent drops ids it applied.
    IDEMPOTENT = "idempotent"
    # Kafka transactions (Faust's exactly_once): atomic, but each hop waits for the commit interval.
    EXACTLY_ONCE = "exactly_once"


SHARED_MARKETS = Path("data") / "ccxt" / "markets"


def _default_markets_dir() -> Path:
    """The shared data set beside the checkout (`../shared`), or the team machines' `/work/shared`."""
    candidates = [REPO_ROOT.parent / "shared" / SHARED_MARKETS, Path("/work/shared") / SHARED_MARKETS]
    return next((path for path in candidates if path.is_dir()), candidates[0])


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZVT_", extra="ignore", frozen=True)

    processing_guarantee: Guarantee = Guarantee.IDEMPOTENT
    # Idempotent mode: a batch leaves its offsets to a later pending batch while the last commit is younger.
    commit_interval_seconds: float = 0.5
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    markets_dir: Path = _default_markets_dir()
    trading_config: Path = REPO_ROOT / "config" / "trading.toml"
    # The strategies the worker runs (e.g. config/strategies.toml); none unless set, so a worker started
    # for orders alone (tests, `zvt demo`) sends no orders of its own.
    strategies_config: Path | None = None
    # Messages of market.prices / market.orderbooks each worker reads back per partition on start.
    market_view_backfill: int = 5000
    # How long an order with a market time waits for the worker's market view to hold the market of that
    # time (see agents.market_view); 0 judges it on whatever the view holds, as a latency-first live desk may.
    market_settle_seconds: float = 1.0
    # ... counted while the market feed has no backlog; in all, an order waits at most this long.
    market_settle_max_seconds: float = 30.0
    # Most records one stage batch takes (fewer when its recent cost per event says the batch would run
    # past `batch_budget_ms` of work).
    batch_max_records: int = 2000
    batch_budget_ms: float = 5.0
    # Event ids (and order ids) each stage keeps per source partition to drop an upstream's redo; rebuilt
    # from the partition itself on assignment. A redo is at most one upstream batch, far fewer.
    dedupe_window: int = 10_000
    # The paper matching engine (docs/order-lifecycle.md): the `paper_venue` stage matches paper orders
    # in market time on `paper.commands`, GTC limit orders and stops rest there. Off
    # (ZVT_PAPER_ENGINE=false): the order stage fills every paper order immediate-or-cancel itself.
    paper_engine: bool = True
    # Tests only: kill the worker at a batch's seam (agents.faults).
    crash_at: str | None = None


@lru_cache(maxsize=1)
def get_agent_settings() -> AgentSettings:
    path = default_env_file()
    return AgentSettings(_env_file=path if path.exists() else None)


@lru_cache(maxsize=1)
def get_trading_config() -> TradingConfig:
    path = get_agent_settings().trading_config
    return TradingConfig.from_toml(path) if path.exists() else TradingConfig()


@lru_cache(maxsize=1)
def get_strategies_config() -> StrategiesConfig:
    path = get_agent_settings().strategies_config
    return StrategiesConfig.from_toml(path) if path is not None else StrategiesConfig()
