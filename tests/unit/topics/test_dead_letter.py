from __future__ import annotations

import pytest

from topics.dead_letter import DeadLetter, DeadLetterReason


def test_headers_round_trip() -> None:
    record = DeadLetter.now(
        source_topic="p.orders.requested",
        partition=3,
        offset=42,
        consumer="risk",
        reason=DeadLetterReason.INVALID,
        error="order.requested: quantity: Input should be greater than 0",
    )
    assert DeadLetter.from_headers(record.headers()) == record


def test_foreign_headers_are_ignored_and_missing_ones_refused() -> None:
    record = DeadLetter.now(
        source_topic="t", partition=0, offset=0, consumer="c", reason=DeadLetterReason.UNDECODABLE, error="x"
    )
    assert DeadLetter.from_headers([("traceparent", b"00-ab"), *record.headers()]) == record
    with pytest.raises(ValueError, match="not a dead-letter record"):
        DeadLetter.from_headers(record.headers()[1:])
