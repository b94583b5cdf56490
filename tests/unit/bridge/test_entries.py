"""The envelope check: what the bridge forwards, and the dead-letter reason of what it refuses."""

from __future__ import annotations

import uuid

import orjson
import pytest

from bench.flows import FlowGenerator
from bridge.entries import RejectedError, decode_event, entry_data, envelope
from schemas import CODEC, AlertTriggered, OrderRequested
from topics import Topics
from topics.dead_letter import DeadLetterReason

ORDER = next(e for e in FlowGenerator(seed=1).flow(0) if isinstance(e, OrderRequested))
ALLOWED = (OrderRequested,)


def test_envelope_keeps_id_type_and_bytes_and_matches_the_codec_layout() -> None:
    data = CODEC.encode(ORDER)
    checked = envelope(data, ALLOWED, "here")
    assert checked.event_id == str(ORDER.event_id)
    assert checked.data == data
    assert checked.fields() == CODEC.to_stream_fields(ORDER)
    assert checked.key_for(Topics.ORDERS_REQUESTED) == Topics.ORDERS_REQUESTED.key_for(ORDER)
    assert CODEC.from_stream_fields(checked.fields()) == ORDER


def _raw(**changes: object) -> bytes:
    body = orjson.loads(CODEC.encode(ORDER))
    body.update(changes)
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", DeadLetterReason.UNDECODABLE),
        (b"{not json", DeadLetterReason.UNDECODABLE),
        (b"[1, 2]", DeadLetterReason.UNDECODABLE),
        (_raw(event_type="no.such.event"), DeadLetterReason.UNDECODABLE),
        (
            CODEC.encode(AlertTriggered(source="t", severity="info", message="m")),
            DeadLetterReason.UNEXPECTED_TYPE,
        ),
        (_raw(event_id="not-a-uuid"), DeadLetterReason.INVALID),
        (_raw(event_id=None), DeadLetterReason.INVALID),
    ],
)
def test_envelope_refusals_name_their_reason(data: bytes, reason: DeadLetterReason) -> None:
    with pytest.raises(RejectedError) as caught:
        envelope(data, ALLOWED, "here")
    assert caught.value.reason is reason


def test_a_schema_error_passes_the_envelope_but_not_the_full_decode() -> None:
    data = _raw(quantity="-1")
    assert envelope(data, ALLOWED, "here").event_id == str(ORDER.event_id)
    with pytest.raises(RejectedError) as caught:
        decode_event(data, ALLOWED, "here")
    assert caught.value.reason is DeadLetterReason.INVALID
    assert "quantity" in caught.value.error


def test_missing_key_field_is_invalid() -> None:
    body = orjson.loads(CODEC.encode(ORDER))
    del body["account_id"]
    with pytest.raises(RejectedError, match="account_id") as caught:
        envelope(orjson.dumps(body), ALLOWED, "here").key_for(Topics.ORDERS_REQUESTED)
    assert caught.value.reason is DeadLetterReason.INVALID


def test_decode_event_checks_the_type_and_entry_data_the_field() -> None:
    assert decode_event(CODEC.encode(ORDER), ALLOWED, "here") == ORDER
    with pytest.raises(RejectedError) as caught:
        decode_event(CODEC.encode(ORDER), (AlertTriggered,), "here")
    assert caught.value.reason is DeadLetterReason.UNEXPECTED_TYPE
    with pytest.raises(RejectedError, match="no 'data' field"):
        entry_data({b"event_id": str(uuid.uuid4()).encode()})
