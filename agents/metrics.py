"""The worker's Prometheus metrics on the Faust web monitor (`/metrics`), and the gauges sampled for it.

Counters and histograms are recorded where the work happens (`agents.stage`); consumer lag and circuit
breaker states are sampled here every few seconds, since they are states rather than events.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.app import app, settings
from agents.context import venue_health
from agents.stage import STAGES
from runtime.metrics import CIRCUIT_STATE, CONSUMER_LAG
from trading.circuit import CircuitState

SAMPLE_INTERVAL_SECONDS = 5.0
_lag_labels: set[tuple[str, str]] = set()  # the (topic, partition) lags this worker reports
CIRCUIT_LEVEL = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def registry_name(topic: str) -> str:
    """The topic's name without this deployment's prefix: one label value per topic, whatever the prefix."""
    return topic.removeprefix(settings.topic_prefix)


@app.page("/metrics")
async def metrics_page(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.timer(interval=SAMPLE_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
async def sample_gauges() -> None:
    """Each stage's lag per assigned partition: the partition's end minus the stage's fetch position."""
    labelled: set[tuple[str, str]] = set()
    for stage in STAGES:
        consumer = stage.consumer
        if consumer is None:
            continue
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            with contextlib.suppress(Exception):  # a partition revoked between the two calls
                labels = (registry_name(tp.topic), str(tp.partition))
                CONSUMER_LAG.labels(*labels).set(max(0, end - await consumer.position(tp)))
                labelled.add(labels)
    for labels in _lag_labels - labelled:  # revoked: its lag is now another worker's to report
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(*labels)
    _lag_labels.clear()
    _lag_labels.update(labelled)
    for venue, health in venue_health.items():
        CIRCUIT_STATE.labels(venue).set(CIRCUIT_LEVEL[health.state()])
