"""Every order event the sink copies into `trading_events` has the columns that table requires; the
cancel and amend requests (which may name an unknown order: no symbol, no side) are kept out of it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore.aggregates import ORDER_CHANGE_EVENTS, ORDER_EVENTS, aggregate_id_of
from eventstore.store import StoredEvent
from eventstore.trading_events import ORDER_TYPES, record_of
from schemas import CODEC, Event
from tests.strategies import EVENT_STRATEGIES


def stored(event: Event) -> StoredEvent:
    return StoredEvent(
        event_id=event.event_id,
        position=1,
        event_type=event.event_type,
        schema_version=event.version,
        timestamp=event.timestamp,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        aggregate_id=aggregate_id_of(event),
        aggregate_version=1,
        data=CODEC.encode(event),
        metadata=b"{}",
    )


@settings(max_examples=100)
@given(event=st.one_of(*(EVENT_STRATEGIES[model] for model in ORDER_EVENTS)))
def test_every_order_event_makes_a_row(event: Event) -> None:
    fields = event.model_dump()
    assert record_of(stored(event))[5:9] == tuple(
        fields[name] for name in ("order_id", "account_id", "symbol", "side")
    )


def test_change_requests_have_no_row() -> None:
    assert not ORDER_TYPES & {model.EVENT_TYPE for model in ORDER_CHANGE_EVENTS}
