"""What the agents of one worker process share: market rules, venue health, the venues themselves."""

from __future__ import annotations

from functools import lru_cache

from agents.market_view import market_view
from agents.settings import get_agent_settings, get_trading_config
from trading.markets import MarketCatalog
from venues.base import Venue
from venues.catalog import load_catalog
from venues.health import VenueHealthBoard
from venues.paper import PaperVenue

venue_health = VenueHealthBoard()


@lru_cache(maxsize=1)
def catalog() -> MarketCatalog:
    config = get_trading_config()
    return load_catalog(get_agent_settings().markets_dir, config.venues)


@lru_cache(maxsize=1)
def venues() -> dict[str, Venue]:
    config = get_trading_config()
    found: dict[str, Venue] = {}
    for name in config.venues:
        if name in config.live_venues:
            from venues.ccxt_live import CcxtVenue  # imported only when trading live

            found[name] = CcxtVenue(name, sandbox=config.live_sandbox)
        else:
            found[name] = PaperVenue(name, catalog(), market_view.book_as_of, config.paper.latency_ms)
            venue_health[name].base_latency_ms = config.paper.latency_ms
    return found
