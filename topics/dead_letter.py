"""What a dead-letter message looks like, for every consumer that gives up on one.

The value and key stay the original bytes, untouched, so a fixed consumer can replay them; the reason
travels in headers. Every dead-letter producer (agents, event-store sink, bridge) uses this one format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

HEADER_PREFIX = "zvt-dlq-"


class DeadLetterReason(StrEnum):
    """Why a message was set aside: `undecodable` and `invalid` are the producer's fault, the rest ours."""

    UNDECODABLE = "undecodable"  # not JSON, not an object, unknown event type
    INVALID = "invalid"  # a known event type that fails its schema
    UNEXPECTED_TYPE = "unexpected-type"  # a valid event that does not belong on this topic
    PROCESSING_FAILED = "processing-failed"  # the consumer raised while handling a valid event
    # A valid tick the market data guard refused (trading.tick_guard); the error starts with its reason.
    QUARANTINED = "quarantined"
    # No signature, or one that is malformed, by an unknown key or wrong for the bytes (schemas.signing):
    # nothing of the message is read. Spelled as the security issue names it.
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class DeadLetter:
    """One set-aside message: where it came from, who gave up on it and why."""

    source_topic: str
    partition: int
    offset: int
    consumer: str
    reason: DeadLetterReason
    error: str
    failed_at: datetime

    @classmethod
    def now(
        cls,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        consumer: str,
        reason: DeadLetterReason,
        error: str,
    ) -> DeadLetter:
        return cls(source_topic, partition, offset, consumer, reason, error, datetime.now(UTC))

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka record headers carrying this record (the value stays the original bytes)."""
        fields = {
            "source-topic": self.source_topic,
            "partition": str(self.partition),
            "offset": str(self.offset),
            "consumer": self.consumer,
            "reason": self.reason.value,
            "error": self.error,
            "failed-at": self.failed_at.isoformat(),
        }
        return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]] | Sequence[tuple[str, bytes]]) -> DeadLetter:
        found = {
            name.removeprefix(HEADER_PREFIX): value.decode()
            for name, value in headers
            if name.startswith(HEADER_PREFIX)
        }
        try:
            return cls(
                source_topic=found["source-topic"],
                partition=int(found["partition"]),
                offset=int(found["offset"]),
                consumer=found["consumer"],
                reason=DeadLetterReason(found["reason"]),
                error=found["error"],
                failed_at=datetime.fromisoformat(found["failed-at"]),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a dead-letter record: {exc}") from exc
