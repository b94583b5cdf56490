from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.trading.builders import ALL_VENUES, MARKETS_DIR_PATH
from trading.markets import MarketCatalog
from venues.catalog import load_catalog


@pytest.fixture(scope="session")
def markets_dir() -> Path:
    path = Path(MARKETS_DIR_PATH)
    if not path.is_dir():
        pytest.skip(f"ccxt market metadata not available at {path}")
    return path


@pytest.fixture(scope="session")
def real_catalog(markets_dir: Path) -> MarketCatalog:
    """Every market of the six venues, from ccxt's real metadata files."""
    return load_catalog(markets_dir, ALL_VENUES)
