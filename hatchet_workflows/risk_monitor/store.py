"""What the risk monitor reads: open positions and recent prices from the event store, and from Redis the
breaches the previous runs saw (so a lasting breach alerts once and de-risks once)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.bus import StreamBus
from eventstore.db import connect
from hatchet_workflows.risk_monitor.models import AccountSnapshot, MonitorState, Snapshot
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


async def read_snapshot(dsn: str, window: int, as_of: datetime) -> Snapshot:
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
    return Snapshot(accounts=accounts, price_history=dict(history), as_of=as_of)


# A stream beside the bus's (same prefix; the workflows' Redis user may append to and read streams only):
# each run appends the open breaches as it leaves them, and the next run reads the newest entry. The last
# entries stay as a short history. Redis runs with appendfsync always: an acknowledged write survives a
# restart. Runs that overlap (a cron run and one on demand) each append what they saw: the later wins.
STATE_STREAM = "zvt.monitor.state"
STATE_FIELD = b"state"
STATE_HISTORY = 100


async def load_state(bus: StreamBus) -> MonitorState:
    newest: Any = await bus.client.xrevrange(f"{bus.prefix}{STATE_STREAM}", count=1)
    return MonitorState.model_validate_json(newest[0][1][STATE_FIELD]) if newest else MonitorState()


async def save_state(bus: StreamBus, state: MonitorState) -> None:
    name = f"{bus.prefix}{STATE_STREAM}"
    await bus.client.xadd(
        name, {STATE_FIELD: state.model_dump_json()}, maxlen=STATE_HISTORY, approximate=True
    )
