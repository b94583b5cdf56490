"""Deterministic ids for derived events, the basis of idempotent processing.

An agent that handles the same input twice (after a crash, before its offset commit) produces events with
the same ids, so every consumer can drop the second copy by `event_id` alone.
"""

from __future__ import annotations

from hashlib import sha1
from uuid import UUID, SafeUUID

# RFC 4122 version 5 (name-based, SHA-1): the variant and version bits of the 128-bit integer.
_VARIANT_MASK, _VARIANT = ~(0xC000 << 48), 0x8000 << 48
_VERSION_MASK, _VERSION_5 = ~(0xF000 << 64), 5 << 76
_new_uuid = object.__new__
_set = object.__setattr__


def derived_id(cause: UUID, label: str) -> UUID:
    """The id of the event `label` derived from `cause` (stable across processes and runs): exactly
    `uuid.uuid5(cause, label)`, built without `UUID.__init__`'s checks (a third of its cost, and every
    order derives four or five of these)."""
    value = int.from_bytes(sha1(cause.bytes + label.encode()).digest()[:16])
    value = (value & _VARIANT_MASK | _VARIANT) & _VERSION_MASK | _VERSION_5
    derived: UUID = _new_uuid(UUID)
    _set(derived, "int", value)
    _set(derived, "is_safe", SafeUUID.unknown)
    return derived
