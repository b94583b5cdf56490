"""Deterministic derived ids."""

from __future__ import annotations

import pickle
import random
from uuid import UUID, uuid4, uuid5

from trading.ids import derived_id

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


def test_derived_id_is_uuid5_for_any_cause_and_label() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        cause = uuid4()
        label = "".join(rng.choice("abc:.-é€0123456789") for _ in range(rng.randrange(0, 40)))
        derived = derived_id(cause, label)
        expected = uuid5(cause, label)
        assert derived == expected
        assert str(derived) == str(expected)
        assert hash(derived) == hash(expected)
        assert derived.version == 5
        assert derived.variant == expected.variant
        assert pickle.loads(pickle.dumps(derived)) == expected
