"""Market rules from ccxt market metadata files (`<venue>.json`, ccxt's unified `markets` structure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from trading.markets import MarketCatalog, MarketRules, guess_precision_mode


def load_venue_rules(venue: str, markets: dict[str, Any]) -> list[MarketRules]:
    mode = guess_precision_mode(markets.values())
    return [MarketRules.from_ccxt(venue, market, mode) for market in markets.values()]


def load_catalog(directory: Path, venues: tuple[str, ...]) -> MarketCatalog:
    """Rules of every market of `venues`, one file per venue; a missing file is an error worth stopping on."""
    rules: list[MarketRules] = []
    for venue in venues:
        path = directory / f"{venue}.json"
        if not path.exists():
            raise FileNotFoundError(f"no ccxt market metadata for {venue}: {path} (set ZVT_MARKETS_DIR)")
        rules += load_venue_rules(venue, orjson.loads(path.read_bytes()))
    return MarketCatalog(rules)
