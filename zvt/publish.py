"""Publishing events into their input topics from the command line or a file (`zvt publish`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from schemas import CODEC, Event, EventDecodeError


class EventFileError(ValueError):
    """A line of an event file that is not a valid event; names the file and line."""


def read_event_file(path: Path) -> Iterator[Event]:
    """Events from a JSON-lines file (one event object per line; blank lines and `#` comments skipped)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            try:
                yield CODEC.decode(stripped)
            except EventDecodeError as exc:
                raise EventFileError(f"{path}:{number}: {exc.reason}") from exc


def event_summary(event: Event) -> str:
    data = orjson.loads(CODEC.encode(event))
    for envelope in (
        "event_id",
        "event_type",
        "version",
        "timestamp",
        "correlation_id",
        "causation_id",
        "metadata",
    ):
        data.pop(envelope, None)
    return " ".join(f"{key}={value}" for key, value in data.items() if value is not None)
