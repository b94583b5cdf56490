"""Pure: what the bridge checks on every message it moves, and how an event sits in a stream entry.

The bridge moves bytes, it does not rebuild events: it checks the envelope (a JSON object of a known event
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
    """An event as the bridge sees it: identity, type and the untouched bytes."""

    event_id: str
    event_type: str
    data: bytes
    body: dict[str, Any]

    def key_for(self, topic: KafkaTopic) -> bytes:
        """The Kafka key, built like `KafkaTopic.key_for` (key fields are strings, so str() agrees)."""
        try:
            return ":".join(str(self.body[name]) for name in topic.key_fields).encode()
        except KeyError as exc:
            raise RejectedError(DeadLetterReason.INVALID, f"{self.event_type}: no key field {exc}") from exc

    def fields(self) -> dict[bytes, bytes]:
        """The stream entry: the same layout as `EventCodec.to_stream_fields`."""
        return {
            STREAM_FIELD_TYPE: self.event_type.encode(),
            STREAM_FIELD_ID: self.event_id.encode(),
            STREAM_FIELD_DATA: self.data,
        }


def _allowed_names(allowed: tuple[type[Event], ...]) -> frozenset[str]:
    return frozenset(model.EVENT_TYPE for model in allowed)


def envelope(data: bytes | None, allowed: tuple[type[Event], ...], where: str) -> Envelope:
    """Check the envelope of `data` for destination `where`; raise `RejectedError` with the reason."""
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
    return Envelope(event_id, event_type, bytes(data), body)


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
    """The event bytes of a stream entry (entries are read as raw bytes: no decode_responses)."""
    data = fields.get(STREAM_FIELD_DATA)
    if data is None:
        raise RejectedError(DeadLetterReason.UNDECODABLE, "stream entry has no 'data' field")
    return data
