"""Starts a Faust worker running all agents or a chosen set (`zvt worker`)."""

from __future__ import annotations

import asyncio
import gc
import importlib
import signal
import sys

AGENT_MODULES: dict[str, str] = {
    "market_data": "agents.market_data",
    "orders": "agents.orders",  # risk -> routing -> paper execution
    "live_execution": "agents.live_execution",  # runs only where live venues are configured
    "paper_venue": "agents.paper_venue",  # runs only with ZVT_PAPER_ENGINE=true
    "portfolio": "agents.portfolio",
    "risk_monitor": "agents.risk_monitor",
    "strategies": "agents.strategies",
}


def run_worker(agents: list[str], loglevel: str = "warn") -> None:
    """Import the chosen agent modules (registering their stages on the app), then run the Faust worker."""
    unknown = sorted(set(agents) - set(AGENT_MODULES))
    if unknown:
        raise ValueError(f"unknown agents {unknown}; choose from {sorted(AGENT_MODULES)}")
    for name in agents:
        importlib.import_module(AGENT_MODULES[name])
    from faust import Worker

    from agents.app import app

    importlib.import_module("agents.metrics")  # registers /metrics and the gauge sampler

    @app.task  # type: ignore[untyped-decorator]
    async def dump_tasks_on_sigusr1() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)

    worker = Worker(app, loglevel=loglevel)
    # Everything built so far lives as long as the worker: the collector need not walk it again. At a
    # thousand strategies, whose states each survive one price, full collections over it (~70 ms) ran twice
    # a second, and young ones 180 times: a sixth of the worker's time. Refcounting frees the rest anyway.
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)
    # Faust's terminal spinner sets the root logger to DEBUG so that it can spin on every record: every
    # debug call in aiokafka and Faust then builds its record (a tenth of the worker's CPU under load).
    worker.spinner = None
    worker.execute_from_commandline()


def _dump_tasks() -> None:
    """`kill -USR1 <worker pid>` logs where our agent code is suspended: what a stalled worker waits on."""
    import gc
    import inspect

    for obj in gc.get_objects():
        frame = None
        if inspect.iscoroutine(obj):
            frame = obj.cr_frame
        elif inspect.isasyncgen(obj):
            frame = obj.ag_frame
        if frame is None or "/agents/" not in frame.f_code.co_filename:
            continue
        chain: list[str] = []
        awaited = obj
        while awaited is not None and len(chain) < 30:
            inner = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if inner is not None:
                where = inner.f_code.co_filename.rsplit("/", 2)[-1]
                chain.append(f"{where}:{inner.f_lineno} {inner.f_code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
        print("suspended: " + " > ".join(chain), file=sys.stderr, flush=True)
    from agents.stage import STAGES

    for stage in STAGES:
        print(f"stage {stage.name}: {vars(stage.stats)}", file=sys.stderr, flush=True)
