"""The envelope check: what the bridge forwards, and the dead-letter reason of what it refuses."""

from __future__ import annotations

import uuid

import orjson
import pytest

from bench.flows import FlowGenerator
from bridge.entries import RejectedError, decode_event, entry_data, envelope
from schemas import CODEC, AlertTriggered, OrderRequested
from schemas.signing import keyring
from topics import Topics
from topics.dead_letter import DeadLetterReason

ORDER = next(e for e in FlowGenerator(seed=1).flow(0) if isinstance(e, OrderRequested))
ALLOWED = (OrderRequested,)


def test_envelope_keeps_id_type_and_bytes_and_matches_the_codec_layout() -> None:
    data = CODEC.encode(ORDER)
    checked = envelope(data, ALLOWED, "here", _sign(data))
    assert checked.event_id == str(ORDER.event_id)
    assert checked.data == data
    assert checked.fields() == {**CODEC.to_stream_fields(ORDER), b"signature": _sign(data)}
    assert checked.key_for(Topics.ORDERS_REQUESTED) == Topics.ORDERS_REQUESTED.key_for(ORDER)
    assert CODEC.from_stream_fields(checked.fields()) == ORDER


def _sign(data: bytes) -> bytes:
    return keyring().sign(data)


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
        envelope(data, ALLOWED, "here", _sign(data))
    assert caught.value.reason is reason


def test_a_schema_error_passes_the_envelope_but_not_the_full_decode() -> None:
    data = _raw(quantity="-1")
    assert envelope(data, ALLOWED, "here", _sign(data)).event_id == str(ORDER.event_id)
    with pytest.raises(RejectedError) as caught:
        decode_event(data, ALLOWED, "here")
    assert caught.value.reason is DeadLetterReason.INVALID
    assert "quantity" in caught.value.error


def test_missing_key_field_is_invalid() -> None:
    body = orjson.loads(CODEC.encode(ORDER))
    del body["account_id"]
    data = orjson.dumps(body)
    checked = envelope(data, ALLOWED, "here", _sign(data))
    with pytest.raises(RejectedError, match="account_id") as caught:
        checked.key_for(Topics.ORDERS_REQUESTED)
    assert caught.value.reason is DeadLetterReason.INVALID


def test_decode_event_checks_the_type_and_entry_data_the_field() -> None:
    assert decode_event(CODEC.encode(ORDER), ALLOWED, "here") == ORDER
    with pytest.raises(RejectedError) as caught:
        decode_event(CODEC.encode(ORDER), (AlertTriggered,), "here")
    assert caught.value.reason is DeadLetterReason.UNEXPECTED_TYPE
    with pytest.raises(RejectedError, match="no 'data' field"):
        entry_data({b"event_id": str(uuid.uuid4()).encode()})


def test_an_unsigned_forged_or_tampered_message_is_refused_as_bad_signature_in_kafka_and_in_redis() -> None:
    data = CODEC.encode(ORDER)
    tampered = data.replace(b'"quantity":"', b'"quantity":"9')
    assert tampered != data
    for signature in (None, b"", b"no-colon", b"nokey:abc", _sign(tampered), _sign(data) + b"x"):
        with pytest.raises(RejectedError) as caught:
            envelope(data, ALLOWED, "here", signature)
        assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE
    with pytest.raises(RejectedError) as caught:
        envelope(tampered, ALLOWED, "here", _sign(data))
    assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE
    fields = envelope(data, ALLOWED, "here", _sign(data)).fields()
    assert entry_data(fields) == data
    unsigned = {name: value for name, value in fields.items() if name != b"signature"}
    for bad in ({**fields, b"signature": _sign(tampered)}, unsigned):
        with pytest.raises(RejectedError) as caught:
            entry_data(bad)
        assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE
