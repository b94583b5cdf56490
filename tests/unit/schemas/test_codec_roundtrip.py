"""Property: every event type survives the codec unchanged, Decimals to the last digit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ALL_EVENT_TYPES, CODEC, Event
from tests.strategies import EVENT_STRATEGIES


def test_every_event_type_has_a_strategy() -> None:
    assert set(EVENT_STRATEGIES) == set(ALL_EVENT_TYPES)


@pytest.mark.parametrize("event_type", ALL_EVENT_TYPES, ids=lambda t: t.EVENT_TYPE)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_codec_round_trip_is_exact(event_type: type[Event], data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[event_type])
    encoded = CODEC.encode(event)
    decoded = CODEC.decode(encoded)
    assert type(decoded) is event_type
    assert decoded == event
    # Equal Decimals can differ in scale (1.1 vs 1.10): the bytes prove the exact digits survived.
    assert CODEC.encode(decoded) == encoded


@pytest.mark.parametrize("event_type", ALL_EVENT_TYPES, ids=lambda t: t.EVENT_TYPE)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_redis_stream_fields_round_trip(event_type: type[Event], data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[event_type])
    fields = CODEC.to_stream_fields(event)
    assert fields[b"event_type"] == event.event_type.encode()
    assert CODEC.from_stream_fields(fields) == event
    # redis-py with decode_responses=True hands back str keys and values
    as_text = {key.decode(): value.decode() for key, value in fields.items()}
    assert CODEC.from_stream_fields(as_text) == event
