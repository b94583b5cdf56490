"""Starts a Faust worker running all agents or a chosen set (`zvt worker`)."""

from __future__ import annotations

import importlib

AGENT_MODULES: dict[str, str] = {
    "market_data": "agents.market_data",
    "risk": "agents.risk",
    "router": "agents.router",
    "execution": "agents.execution",
    "portfolio": "agents.portfolio",
    "risk_monitor": "agents.risk_monitor",
}


def run_worker(agents: list[str], loglevel: str = "warn") -> None:
    """Import the chosen agent modules (registering them on the app), then run the Faust worker."""
    unknown = sorted(set(agents) - set(AGENT_MODULES))
    if unknown:
        raise ValueError(f"unknown agents {unknown}; choose from {sorted(AGENT_MODULES)}")
    for name in agents:
        importlib.import_module(AGENT_MODULES[name])
    from faust import Worker

    from agents.app import app

    Worker(app, loglevel=loglevel).execute_from_commandline()
