"""Deterministic ids for derived events, the basis of idempotent processing.

An agent that handles the same input twice (after a crash, before its offset commit) produces events with
the same ids, so every consumer can drop the second copy by `event_id` alone.
"""

from __future__ import annotations

from uuid import UUID, uuid5


def derived_id(cause: UUID, label: str) -> UUID:
    """The id of the event `label` derived from `cause` (stable across processes and runs)."""
    return uuid5(cause, label)
