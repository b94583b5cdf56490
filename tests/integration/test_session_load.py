"""A loaded session (over 5,000 orders from 48 strategy instances on the bundled minute of binance data),
replayed twice as fast as the pipeline takes it and once at the recorded pace: the orders, fills and PnL
are a function of the data, not of the replay's speed or the pipeline's backlog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from .sessions import fresh_sample_files, run_session

pytestmark = pytest.mark.integration

MIN_ORDERS = 5000
# (fast, slow) windows of the moving-average crossovers: short ones cross every few prices.
WINDOWS = ((2, 3), (2, 4), (3, 5), (2, 5), (3, 4), (4, 6))
QUANTITIES = {"BTC/USDT": "0.001", "ETH/USDT": "0.01"}


def load_strategies(copies: int = 4) -> str:
    """`copies` of each window on each symbol, each instance an account of its own with its own size, so
    no two instances send identical orders and no account's risk limits bind the others."""
    entries: list[str] = []
    for copy in range(1, copies + 1):
        for symbol, quantity in QUANTITIES.items():
            for fast, slow in WINDOWS:
                number = len(entries) + 1
                entries.append(
                    f'[[strategies]]\nid = "load-ma-{number}"\nkind = "ma_crossover"\n'
                    f'account = "load-{number}"\nsymbols = ["{symbol}"]\nvenue = "binance"\n'
                    f"[strategies.parameters]\nfast = {fast}\nslow = {slow}\n"
                    f'quantity = "{quantity}{copy}"\n'
                )
    return "\n".join(entries)


def outcome(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on speed: every order's outcome, every fill, the PnL."""
    return {
        "orders": report["orders"],
        "fills": sorted(report["fills"], key=orjson.dumps),
        "pnl": report["pnl"],
        "total_net_pnl": report["total_net_pnl"],
    }


def test_a_loaded_session_at_full_and_recorded_speed_gives_identical_orders_fills_and_pnl(
    tmp_path: Path,
) -> None:
    config = tmp_path / "strategies.toml"
    config.write_text(load_strategies())
    files = fresh_sample_files(tmp_path)
    reports = {}
    for name, speed in (("max-1", "max"), ("max-2", "max"), ("recorded", "1")):
        directory = tmp_path / name
        directory.mkdir()
        run_session(
            directory,
            files,
            speed,
            "--no-rebalance",
            limit=None,
            environment={"ZVT_STRATEGIES_CONFIG": str(config)},
            timeout=420,
        )
        reports[name] = json.loads((directory / "session.json").read_text())
    first = reports["max-1"]
    assert first["orders"]["requested"] >= MIN_ORDERS
    assert first["orders"]["without_outcome"] == []
    assert first["orders"]["outcome_twice"] == []
    assert len({report["topic_prefix"] for report in reports.values()}) == 3  # three sessions of their own
    for name in ("max-2", "recorded"):
        assert outcome(reports[name]) == outcome(first), name
    for report in reports.values():
        assert "max_open_orders" not in report["orders"]["rejections_by_reason"]
        assert "order_rate" not in report["orders"]["rejections_by_reason"]
