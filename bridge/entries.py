"""Pure: what the bridge checks on every message it moves, and how an event sits in a stream entry.

The bridge moves bytes, it does not rebuild events: it verifies the signature (schemas.signing), checks the
envelope (a JSON object of a known event
type that belongs on the destination, with a UUID `event_id`) and forwards the original bytes. Full schema
validation happens once, where the event is decoded for use (a `StreamConsumer`, an agent), and fails into
that side's dead letters. Checking the envelope costs a tenth of a full decode, which is what lets one
bridge process move tens of thousands of events a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from schemas import CODEC, EVENT_REGISTRY, Event, EventDecodeError
from schemas.codec import STREAM_FIELD_DATA, STREAM_FIELD_ID, STREAM_FIELD_TYPE
from schemas.signing import STREAM_FIELD_SIGNATURE, SignatureError, keyring
from topics.dead_letter import DeadLetterReason
from topics.registry import KafkaTopic


class RejectedError(ValueError):
    """A message the bridge or a consumer will not use, with the dead-letter reason."""

    def __init__(self, reason: DeadLetterReason, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event as the bridge sees it: identity, type, the untouched bytes and their signature."""

    event_id: str
    event_type: str
    data: bytes
    body: dict[str, Any]
    signature: bytes

    def key_for(self, topic: KafkaTopic) -> bytes:
        """The Kafka key, built like `KafkaTopic.key_for` (key fields are strings, so str() agrees)."""
        try:
            return ":".join(str(self.body[name]) for name in topic.key_fields).encode()
        except KeyError as exc:
            raise RejectedError(DeadLetterReason.INVALID, f"{self.event_type}: no key field {exc}") from exc

    def fields(self) -> dict[bytes, bytes]:
        """The stream entry: the same layout as `EventCodec.to_stream_fields`, with the signature."""
        return {
            STREAM_FIELD_TYPE: self.event_type.encode(),
            STREAM_FIELD_ID: self.event_id.encode(),
            STREAM_FIELD_DATA: self.data,
            STREAM_FIELD_SIGNATURE: self.signature,
        }

    @classmethod
    def signed(cls, event: Event) -> Envelope:
        """An event of this process, encoded and signed for a stream."""
        data = CODEC.encode(event)
        return cls(str(event.event_id), event.event_type, data, {}, keyring().sign(data))


def _allowed_names(allowed: tuple[type[Event], ...]) -> frozenset[str]:
    return frozenset(model.EVENT_TYPE for model in allowed)


def verify(data: bytes, signature: bytes | None) -> None:
    """Raise `RejectedError` (bad_signature) unless `signature` is this platform's, over `data`."""
    try:
        keyring().verify(data, signature)
    except SignatureError as exc:
        raise RejectedError(DeadLetterReason.BAD_SIGNATURE, exc.reason) from None


def envelope(
    data: bytes | None, allowed: tuple[type[Event], ...], where: str, signature: bytes | None
) -> Envelope:
    """Verify `data`'s signature and check its envelope for destination `where`; raise `RejectedError`
    with the reason."""
    if not data:
        raise RejectedError(DeadLetterReason.UNDECODABLE, "empty message")
    verify(data, signature)
    return checked_envelope(data, allowed, where, signature or b"")


def checked_envelope(data: bytes, allowed: tuple[type[Event], ...], where: str, signature: bytes) -> Envelope:
    """`envelope` of bytes whose signature is already verified."""
    if not data:
        raise RejectedError(DeadLetterReason.UNDECODABLE, "empty message")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RejectedError(DeadLetterReason.UNDECODABLE, f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RejectedError(
            DeadLetterReason.UNDECODABLE, f"an event is a JSON object, got {type(body).__name__}"
        )
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_REGISTRY:
        raise RejectedError(DeadLetterReason.UNDECODABLE, f"unknown event_type {event_type!r}")
    if event_type not in _allowed_names(allowed):
        raise RejectedError(DeadLetterReason.UNEXPECTED_TYPE, f"{event_type} does not belong on {where}")
    raw_id = body.get("event_id")
    try:
        event_id = str(uuid.UUID(raw_id))
    except (TypeError, ValueError, AttributeError) as exc:
        raise RejectedError(
            DeadLetterReason.INVALID, f"{event_type}: event_id {raw_id!r} is not a UUID"
        ) from exc
    return Envelope(event_id, event_type, bytes(data), body, bytes(signature))


def decode_event(data: bytes | None, allowed: tuple[type[Event], ...], where: str) -> Event:
    """Fully decode and validate `data` for destination `where`; raise `RejectedError` with the reason."""
    if not data:
        raise RejectedError(DeadLetterReason.UNDECODABLE, "empty message")
    try:
        event = CODEC.decode(data)
    except EventDecodeError as exc:
        reason = DeadLetterReason.UNDECODABLE if exc.event_type is None else DeadLetterReason.INVALID
        raise RejectedError(reason, exc.reason) from exc
    if not isinstance(event, allowed):
        raise RejectedError(
            DeadLetterReason.UNEXPECTED_TYPE, f"{event.event_type} does not belong on {where}"
        )
    return event


def entry_data(fields: Mapping[bytes, bytes]) -> bytes:
    """The event bytes of a stream entry, once their signature is verified (entries are read as raw
    bytes: no decode_responses)."""
    data = fields.get(STREAM_FIELD_DATA)
    if data is None:
        raise RejectedError(DeadLetterReason.UNDECODABLE, "stream entry has no 'data' field")
    verify(data, fields.get(STREAM_FIELD_SIGNATURE))
    return data
