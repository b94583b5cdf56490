"""Event codec throughput beside plain orjson on the same payloads (`python -m bench.codec`).

The baseline is what no schema costs: orjson alone, dumping the same dict and parsing the same bytes.
The ratio says what validation (exact Decimals, UTC timestamps, field checks) costs per event.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from rich.console import Console
from rich.table import Table

from schemas import CODEC, Event, OrderExecuted, OrderRequested, TradeTick

MARKET_TIME = datetime(2024, 8, 9, 0, 0, 1, 123000, tzinfo=UTC)

SAMPLES: tuple[Event, ...] = (
    TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id="3711275310",
        price=Decimal("61234.56"),
        quantity=Decimal("0.00123"),
        aggressor_side="buy",
        market_time=MARKET_TIME,
    ),
    OrderRequested(
        order_id="ord-000001",
        account_id="acct-1",
        strategy_id="ma-cross",
        symbol="BTC/USDT",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.015"),
        limit_price=Decimal("61234.50"),
    ),
    OrderExecuted(
        order_id="ord-000001",
        account_id="acct-1",
        symbol="BTC/USDT",
        side="buy",
        venue="paper",
        fill_id="fill-1",
        fill_quantity=Decimal("0.010"),
        fill_price=Decimal("61234.50"),
        fee=Decimal("0.61234500"),
        fee_currency="USDT",
        liquidity="taker",
        cumulative_quantity=Decimal("0.010"),
        remaining_quantity=Decimal("0.005"),
        status="partially_filled",
    ),
)


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second of `func`, measured for about `seconds`."""
    calls, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            func()
        calls += 1000
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per cell")
    args = parser.parse_args()

    table = Table(
        "event", "op", "codec /s", "orjson only /s", "codec / orjson", title="Event codec throughput"
    )
    for event in SAMPLES:
        encoded = CODEC.encode(event)
        as_dict = orjson.loads(encoded)
        assert CODEC.decode(encoded) == event
        for op, ours, baseline in (
            ("encode", lambda e=event: CODEC.encode(e), lambda d=as_dict: orjson.dumps(d)),
            ("decode", lambda b=encoded: CODEC.decode(b), lambda b=encoded: orjson.loads(b)),
        ):
            ours_rate, base_rate = rate(ours, args.seconds), rate(baseline, args.seconds)
            table.add_row(
                event.event_type, op, f"{ours_rate:,.0f}", f"{base_rate:,.0f}", f"{ours_rate / base_rate:.3f}"
            )
    Console().print(table)


if __name__ == "__main__":
    main()
