"""The pure half of `append`: duplicates skipped, versions and positions assigned, stale writers refused."""

from __future__ import annotations

import pytest

from bench.flows import FlowGenerator
from eventstore.store import (
    COLUMNS,
    ConcurrencyError,
    NewEvent,
    StoredEvent,
    UnstorableEventError,
    plan_append,
)
from schemas import AlertTriggered

EVENTS = [NewEvent.of(event) for event in FlowGenerator(seed=3).flow(0)]
ORDER = EVENTS[0].aggregate_id


def test_versions_continue_per_aggregate_and_positions_globally() -> None:
    result = plan_append(
        EVENTS, stored_ids=set(), versions={ORDER: 4}, expected_versions={}, last_position=10
    )
    assert [e.position for e in result.stored] == list(range(11, 11 + len(EVENTS)))
    order_versions = [e.aggregate_version for e in result.stored if e.aggregate_id == ORDER]
    assert order_versions == list(range(5, 5 + len(order_versions)))
    assert result.duplicates == 0


def test_stored_and_repeated_events_are_skipped() -> None:
    batch = [EVENTS[0], EVENTS[1], EVENTS[1], EVENTS[2]]
    result = plan_append(
        batch, stored_ids={EVENTS[0].event_id}, versions={ORDER: 1}, expected_versions={}, last_position=1
    )
    assert [e.event_id for e in result.stored] == [EVENTS[1].event_id, EVENTS[2].event_id]
    assert [e.aggregate_version for e in result.stored] == [2, 3]
    assert result.duplicates == 2


def test_stale_expected_version_is_refused_with_both_versions() -> None:
    with pytest.raises(ConcurrencyError, match=r"'ord-3-0000000' is at version 2, expected 1") as error:
        plan_append(
            EVENTS, stored_ids=set(), versions={ORDER: 2}, expected_versions={ORDER: 1}, last_position=2
        )
    assert (error.value.expected, error.value.actual) == (1, 2)
    fresh = plan_append(EVENTS, stored_ids=set(), versions={}, expected_versions={ORDER: 0}, last_position=0)
    assert fresh.stored[0].aggregate_version == 1


def test_a_resent_batch_is_a_no_op_even_with_its_old_expected_version() -> None:
    result = plan_append(
        EVENTS,
        stored_ids={e.event_id for e in EVENTS},
        versions={ORDER: 9},
        expected_versions={ORDER: 0},
        last_position=9,
    )
    assert result.stored == ()
    assert result.duplicates == len(EVENTS)


def test_records_follow_the_column_order() -> None:
    stored = plan_append(
        EVENTS[:1], stored_ids=set(), versions={}, expected_versions={}, last_position=0
    ).stored[0]
    fields = ["event_data" if name == "data" else name for name in StoredEvent.__slots__]
    assert tuple(fields) == COLUMNS
    assert stored.record() == tuple(getattr(stored, name) for name in StoredEvent.__slots__)


def test_nul_characters_are_refused_before_postgres_sees_them() -> None:
    with pytest.raises(UnstorableEventError, match="NUL"):
        NewEvent.of(AlertTriggered(source="s", severity="info", message="bad \x00 byte"))
