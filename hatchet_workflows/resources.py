"""What the workflow tasks of one worker process share: the Redis bus, market rules, trading limits.

Created on first use, inside the worker's event loop (the Hatchet worker runs every async task on one
loop), so the Redis client's connections belong to that loop.
"""

from __future__ import annotations

from functools import lru_cache

from agents.settings import get_agent_settings, get_trading_config
from bridge.bus import StreamBus
from runtime.clients import redis_client
from runtime.settings import get_settings
from trading.config import TradingConfig
from trading.markets import MarketCatalog
from venues.catalog import load_catalog


@lru_cache(maxsize=1)
def stream_bus() -> StreamBus:
    settings = get_settings()
    return StreamBus(redis_client(settings), settings.topic_prefix)


@lru_cache(maxsize=1)
def market_catalog() -> MarketCatalog:
    return load_catalog(get_agent_settings().markets_dir, trading_config().venues)


def trading_config() -> TradingConfig:
    return get_trading_config()
