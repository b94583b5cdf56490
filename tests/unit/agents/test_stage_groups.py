"""No two stages of one consumer group read the same topic: the range assignor splits each topic's
partitions among every member of a group subscribed to it, so a topic two stages of one group read reaches
each of them half-way (the order stage with the paper engine read half of `orders.executed`, the portfolio
stage the other half). Checked in a fresh interpreter per setting, since the stages register at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zvt.settings import REPO_ROOT

PROBE = """
import importlib, json
from agents.stage import STAGES
from agents.worker import AGENT_MODULES
for module in AGENT_MODULES.values():
    importlib.import_module(module)
print(json.dumps([[s.name, s.group, sorted(t.name for t in s.inputs)] for s in STAGES]))
"""

STRATEGIES = """
[[strategies]]
id = "probe"
kind = "ma_crossover"
account = "acct-probe"
symbols = ["BTC/USDT"]
venue = "binance"
[strategies.parameters]
fast = 5
slow = 10
quantity = "0.01"
"""


def stages(env: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=os.environ | env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return [(name, group, topics) for name, group, topics in json.loads(done.stdout)]


@pytest.mark.parametrize("engine", ["false", "true"])
def test_each_topic_is_read_by_one_stage_per_group(engine: str, tmp_path: Path) -> None:
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    found = stages({"ZVT_PAPER_ENGINE": engine, "ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml")})
    names = {name for name, _, _ in found}
    assert {"market_data", "orders", "portfolio", "risk_monitor", "strategies"} <= names
    assert ("paper_venue" in names) is (engine == "true")
    readers: dict[tuple[str, str], list[str]] = {}
    for name, group, topics in found:
        for topic in topics:
            readers.setdefault((group, topic), []).append(name)
    assert {key: who for key, who in readers.items() if len(who) > 1} == {}
    groups = {name: group for name, group, _ in found}
    if engine == "true":  # the two that read a topic another stage reads too
        assert groups["orders"].endswith("zvt-agents.orders")
        assert groups["paper_venue"].endswith("zvt-agents.paper_venue")
    assert groups["portfolio"].endswith("zvt-agents")
