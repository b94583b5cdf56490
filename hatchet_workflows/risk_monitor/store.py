"""What the scheduled risk monitor reads from the event store: open positions and recent prices."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from eventstore.db import connect
from hatchet_workflows.risk_monitor.models import AccountSnapshot, Snapshot
from schemas import PriceUpdated

_POSITIONS = "SELECT account_id, symbol, quantity FROM position_projections WHERE quantity <> 0"
# The newest `$2` prices of each symbol, oldest first.
_PRICES = """
SELECT symbol, price FROM (
    SELECT event_data->>'symbol' AS symbol, event_data->>'price' AS price, position,
           row_number() OVER (PARTITION BY event_data->>'symbol' ORDER BY position DESC) AS age
    FROM event_store WHERE event_type = $1 AND event_data->>'symbol' = ANY($3::text[])
) recent WHERE age <= $2 ORDER BY symbol, position
"""


async def read_snapshot(dsn: str, window: int) -> Snapshot:
    connection = await connect(dsn)
    try:
        holdings: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for row in await connection.fetch(_POSITIONS):
            holdings[row["account_id"]][row["symbol"]] = row["quantity"]
        symbols = sorted({symbol for held in holdings.values() for symbol in held})
        history: dict[str, list[Decimal]] = defaultdict(list)
        for row in await connection.fetch(_PRICES, PriceUpdated.EVENT_TYPE, window, symbols):
            history[row["symbol"]].append(Decimal(row["price"]))
    finally:
        await connection.close()
    accounts = [AccountSnapshot(account_id=a, positions=p) for a, p in sorted(holdings.items())]
    return Snapshot(accounts=accounts, price_history=dict(history))
