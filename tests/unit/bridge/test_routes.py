"""The bridge's routes come from the registry, one stream per topic."""

from __future__ import annotations

import pytest

from bridge.routes import Routes
from topics import Streams, Topics


def test_every_registered_route_is_taken() -> None:
    routes = Routes.of()
    assert {(r.topic, r.stream) for r in routes.inbound} == {
        (Topics.ORDERS_ROUTED, Streams.ORDER_ROUTES),
        (Topics.ORDERS_EXECUTED, Streams.ORDER_EXECUTIONS),
        (Topics.ORDERS_REJECTED, Streams.ORDER_EXECUTIONS),
        (Topics.ORDERS_CANCELED, Streams.ORDER_EXECUTIONS),
        (Topics.RISK_BREACHES, Streams.RISK_BREACHES),
        (Topics.ALERTS, Streams.ALERTS),
    }
    assert [(r.stream, r.topic) for r in routes.outbound] == [
        (Streams.ORDER_REQUESTS, Topics.ORDERS_REQUESTED),
        (Streams.REBALANCES, Topics.REBALANCES),
        (Streams.MONITOR_BREACHES, Topics.RISK_BREACHES),
        (Streams.MONITOR_ALERTS, Topics.ALERTS),
    ]


def test_routes_carry_only_events_their_stream_accepts() -> None:
    for route in Routes.of().inbound:
        assert set(route.topic.value_types) <= set(route.stream.value_types), route
    for out in Routes.of().outbound:
        assert set(out.stream.value_types) <= set(out.topic.value_types), out


def test_by_topic_uses_the_prefixed_names() -> None:
    table = Routes.of([Streams.ORDER_EXECUTIONS]).by_topic("desk-a.")
    assert set(table) == {
        Topics.ORDERS_EXECUTED.full_name("desk-a."),
        Topics.ORDERS_REJECTED.full_name("desk-a."),
        Topics.ORDERS_CANCELED.full_name("desk-a."),
    }
    assert {route.stream for route in table.values()} == {Streams.ORDER_EXECUTIONS}


def test_named_chooses_streams_and_refuses_unknown_ones() -> None:
    routes = Routes.named([Streams.ALERTS.name])
    assert [r.topic for r in routes.inbound] == [Topics.ALERTS]
    assert routes.outbound == ()
    with pytest.raises(LookupError, match="unknown streams"):
        Routes.named(["no.such.stream"])
