"""Deterministic derived ids and the bounded window of applied ids."""

from __future__ import annotations

from uuid import UUID, uuid5

from trading.ids import RecentIds, derived_id

CAUSE = UUID("12345678-1234-5678-1234-567812345678")


def test_derived_id_is_stable() -> None:
    assert derived_id(CAUSE, "validated") == derived_id(CAUSE, "validated")
    assert derived_id(CAUSE, "validated") == uuid5(CAUSE, "validated")
    # pinned, so a change of scheme (which would break dedupe across a deploy) is noticed
    assert derived_id(CAUSE, "validated") == UUID("5951a223-f667-5c81-9a63-66f885e85734")
    assert derived_id(CAUSE, "validated").version == 5


def test_derived_id_differs_by_label_and_cause() -> None:
    other = UUID("87654321-4321-8765-4321-876543218765")
    ids = {
        derived_id(CAUSE, "validated"),
        derived_id(CAUSE, "rejected"),
        derived_id(other, "validated"),
        derived_id(other, "rejected"),
    }
    assert len(ids) == 4
    assert CAUSE not in ids


def test_recent_ids_keeps_insertion_order_and_skips_known_ids() -> None:
    ids = RecentIds().add("a", "b").add("c", "a")
    assert ids.ids == ("a", "b", "c")
    assert "a" in ids
    assert "z" not in ids


def test_recent_ids_is_bounded_oldest_first() -> None:
    ids = RecentIds(capacity=3).add("a", "b", "c").add("d")
    assert ids.ids == ("b", "c", "d")
    assert "a" not in ids
    assert RecentIds(capacity=3).extend(str(n) for n in range(10)).ids == ("7", "8", "9")


def test_recent_ids_accepts_uuids_and_matches_them_as_text() -> None:
    ids = RecentIds().add(CAUSE)
    assert CAUSE in ids
    assert str(CAUSE) in ids
    assert ids.ids == (str(CAUSE),)


def test_recent_ids_is_immutable() -> None:
    empty = RecentIds()
    empty.add("a")
    assert empty.ids == ()
    assert RecentIds().add("a") == RecentIds(ids=("a",))


def test_duplicates_within_one_call_are_stored_once() -> None:
    ids = RecentIds(capacity=3).add("x", "x", "y")
    assert ids.ids == ("x", "y")
