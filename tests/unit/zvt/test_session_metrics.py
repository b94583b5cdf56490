"""What a session reads of its workers' metrics once it drained: the paper engines' inputs taken at
another market time than their own, by kind, summed over venues."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from zvt.session import paper_inputs_counted


def test_late_and_unsourced_inputs_are_summed_over_venues() -> None:
    registry = CollectorRegistry()
    counter = Counter("zvt_paper_late_inputs", "late inputs", ["venue", "kind"], registry=registry)
    counter.labels("binance", "late").inc(2)
    counter.labels("kraken", "late").inc(1)
    counter.labels("binance", "unsourced").inc(5)
    text = generate_latest(registry).decode()
    assert paper_inputs_counted(text) == {"late": 3.0, "unsourced": 5.0}


def test_a_worker_that_counted_none_reports_nothing() -> None:
    registry = CollectorRegistry()
    Counter("zvt_paper_late_inputs", "late inputs", ["venue", "kind"], registry=registry)
    assert paper_inputs_counted(generate_latest(registry).decode()) == {}
