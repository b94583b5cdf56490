"""What a Redis dead-letter entry looks like: the original entry's fields, untouched, plus the reason.

It reads like a Kafka dead letter (`topics.dead_letter`): the same `zvt-dlq-` prefix, the same reasons, the
same consumer/reason/error/failed-at fields; where Kafka names a partition and offset, a stream entry names
its stream, entry id and how many times it was delivered before it was set aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from topics.dead_letter import HEADER_PREFIX, DeadLetterReason

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class StreamDeadLetter:
    """One set-aside stream entry: where it came from, who gave up on it and why."""

    source_stream: str
    entry_id: str
    deliveries: int
    consumer: str
    reason: DeadLetterReason
    error: str
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", self.error[:MAX_ERROR_CHARS])

    def fields(self) -> dict[bytes, bytes]:
        """The `zvt-dlq-*` fields added to the original entry's fields."""
        values = {
            "source-stream": self.source_stream,
            "entry-id": self.entry_id,
            "deliveries": str(self.deliveries),
            "consumer": self.consumer,
            "reason": self.reason.value,
            "error": self.error,
            "failed-at": self.failed_at.isoformat(),
        }
        return {(HEADER_PREFIX + name).encode(): value.encode() for name, value in values.items()}

    def entry(self, original: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
        """The dead-letter entry: the original fields (so a fixed consumer can replay them) and ours."""
        return {
            **{k: v for k, v in original.items() if not k.startswith(HEADER_PREFIX.encode())},
            **self.fields(),
        }

    @classmethod
    def from_entry(cls, fields: Mapping[bytes, bytes]) -> StreamDeadLetter:
        found = {
            name.decode().removeprefix(HEADER_PREFIX): value.decode()
            for name, value in fields.items()
            if name.startswith(HEADER_PREFIX.encode())
        }
        try:
            return cls(
                source_stream=found["source-stream"],
                entry_id=found["entry-id"],
                deliveries=int(found["deliveries"]),
                consumer=found["consumer"],
                reason=DeadLetterReason(found["reason"]),
                error=found["error"],
                failed_at=datetime.fromisoformat(found["failed-at"]),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a dead-letter entry: {exc}") from exc
