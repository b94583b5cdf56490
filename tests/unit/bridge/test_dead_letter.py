"""Redis dead-letter entries: the original fields untouched, the reason in `zvt-dlq-*` fields."""

from __future__ import annotations

import pytest

from bridge.dead_letter import MAX_ERROR_CHARS, StreamDeadLetter
from topics.dead_letter import HEADER_PREFIX, DeadLetter, DeadLetterReason


def _letter(error: str = "ValueError: boom") -> StreamDeadLetter:
    return StreamDeadLetter(
        source_stream="p.zvt.orders.requested",
        entry_id="1700000000000-3",
        deliveries=5,
        consumer="zvt.bridge/host-1-abc",
        reason=DeadLetterReason.PROCESSING_FAILED,
        error=error,
    )


def test_entry_keeps_the_original_fields_and_round_trips() -> None:
    original = {b"event_type": b"order.requested", b"event_id": b"e-1", b"data": b"{}"}
    letter = _letter()
    entry = letter.entry(original)
    assert {k: entry[k] for k in original} == original
    assert StreamDeadLetter.from_entry(entry) == letter


def test_reads_like_a_kafka_dead_letter() -> None:
    kafka = DeadLetter.now(
        source_topic="t", partition=0, offset=1, consumer="c", reason=DeadLetterReason.INVALID, error="x"
    )
    kafka_names = {name for name, _ in kafka.headers()}
    stream_names = {name.decode() for name in _letter().fields()}
    shared = {HEADER_PREFIX + name for name in ("consumer", "reason", "error", "failed-at")}
    assert shared <= kafka_names & stream_names


def test_a_dead_letter_of_a_dead_letter_replaces_our_fields_and_long_errors_are_cut() -> None:
    first = _letter().entry({b"data": b"x"})
    second = _letter("later").entry(first)
    assert StreamDeadLetter.from_entry(second).error == "later"
    assert len(_letter("e" * (MAX_ERROR_CHARS + 10)).error) == MAX_ERROR_CHARS
    with pytest.raises(ValueError, match="not a dead-letter entry"):
        StreamDeadLetter.from_entry({b"data": b"x"})
