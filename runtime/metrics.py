"""The platform's Prometheus metrics, defined once and shared by every process that records them.

Each process exposes its own registry: the agent worker on the Faust web monitor (`/metrics`), the other
processes (bridge, sink, workflow worker) through `serve_metrics` on a port of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from schemas.signing import SIGNATURE_COUNTS

log = logging.getLogger(__name__)

# Seconds; an agent stage's batch takes from a millisecond (a few events, two acknowledgements) up.
_HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# A sink batch is up to thousands of rows in one transaction.
_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A workflow task takes from a millisecond (noop) to minutes (a step waiting for its child runs).
_TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

class _SignatureCollector(Collector):
    """zvt_event_signatures_total from schemas.signing's counts, read at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "zvt_event_signatures",
            "Event signatures this process made (signed), checked (verified) and refused (bad_signature).",
            labels=["operation"],
        )
        for operation, count in SIGNATURE_COUNTS.items():
            family.add_metric([operation], count)
        yield family


REGISTRY.register(_SignatureCollector())

EVENTS = Counter(
    "zvt_events",
    "Events a consumer took from its input, by outcome (handled or dead_lettered).",
    ["consumer", "outcome"],
)
BATCH_SECONDS = Histogram(
    "zvt_batch_seconds",
    "Time an agent stage spent on one batch: decode, handle, publish, acknowledgements, state, commit.",
    ["consumer"],
    buckets=_HANDLER_BUCKETS,
)
BATCH_EVENTS = Histogram(
    "zvt_batch_events",
    "Input events in one batch of an agent stage.",
    ["consumer"],
    buckets=_BATCH_SIZE_BUCKETS,
)
DEAD_LETTERS = Counter(
    "zvt_dead_letters", "Messages sent to a dead-letter topic or stream.", ["source", "reason"]
)
PAPER_LATE_INPUTS = Counter(
    "zvt_paper_late_inputs",
    "Inputs the paper matching engine took at another market time than their own (trading.market_time): late "
    "(a watermark was wrong: the outcome depends on arrival) or unsourced (placed by hand: no watermark).",
    ["venue", "kind"],
)
PAPER_PENDING = Gauge(
    "zvt_paper_pending_inputs",
    "Ticks and commands the paper venue stage holds behind a watermark, all symbols of the worker.",
)
TICKS_QUARANTINED = Counter(
    "zvt_ticks_quarantined",
    "Ticks the market data guard refused (dead-lettered, no price moved), by reason (trading.tick_guard).",
    ["reason"],
)
CONSUMER_LAG = Gauge(
    "zvt_consumer_lag",
    "Messages between a partition's end and what this process has done with (read; stored; forwarded).",
    ["topic", "partition"],
)
CIRCUIT_STATE = Gauge(
    "zvt_circuit_state", "A venue's circuit breaker: 0 closed, 1 half open, 2 open.", ["venue"]
)
KILL_SWITCH = Gauge(
    "zvt_kill_switch",
    "A kill switch as this worker applies it (1 engaged, 0 released): scope global, or account:<id> for "
    "each account a runtime command named (agents/controls.py).",
    ["scope"],
)
CONTROL_COMMANDS = Counter(
    "zvt_control_commands",
    "Control commands this worker read from control.commands, by outcome: applied, or refused (unsigned, "
    "undecodable, not a control command: the sink dead-letters those).",
    ["outcome"],
)
STRATEGIES_HALTED = Gauge("zvt_strategies_halted", "Strategies halted in this worker's control state.")
STREAM_LAG = Gauge(
    "zvt_stream_lag",
    "Entries of a Redis stream this process's consumer group has not acknowledged (undelivered + pending).",
    ["stream"],
)
FORWARDED = Counter(
    "zvt_bridge_forwarded",
    "Events the bridge moved, by route: direction, Kafka topic and Redis stream.",
    ["direction", "topic", "stream"],
)
STORED = Counter("zvt_sink_stored", "Events the sink appended to the event store.")
SINK_BATCH_SECONDS = Histogram(
    "zvt_sink_batch_seconds",
    "One sink batch's PostgreSQL transaction: events, read models, trading_events and tracking row.",
    buckets=_BATCH_BUCKETS,
)
WORKFLOW_OUTCOMES = Counter(
    "zvt_workflow_outcomes",
    "What finished place_order and rebalance runs achieved (filled, rejected, partial, ...).",
    ["workflow", "outcome"],
)
WORKFLOW_RUNS = Counter(
    "zvt_workflow_runs",
    "Workflow runs finished on this worker: completed (its last task did) or failed (a task, for good).",
    ["workflow", "status"],
)
TASK_SECONDS = Histogram(
    "zvt_workflow_task_seconds",
    "One attempt of a workflow task, by outcome (completed, retried, failed or cancelled).",
    ["workflow", "task", "outcome"],
    buckets=_TASK_BUCKETS,
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose this process's metrics on `host`:`port` (port 0: not at all). A port already taken (a second
    instance on one machine) is logged and skipped: metrics must never stop the process they describe."""
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics not served on port %s: %s", port, exc)
