"""Deterministic ids for derived events, the basis of idempotent processing.

An agent that handles the same input twice (after a crash, before its offset commit) produces events with
the same ids, so every consumer can drop the second copy by `event_id` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict


def derived_id(cause: UUID, label: str) -> UUID:
    """The id of the event `label` derived from `cause` (stable across processes and runs)."""
    return uuid5(cause, label)


class RecentIds(BaseModel):
    """A bounded window of the ids an agent already applied for one key (oldest dropped first).

    Duplicates arrive within a commit interval of the original, so a window of a few thousand per key is
    ample; it keeps table values and memory flat however long a worker runs.
    """

    model_config = ConfigDict(frozen=True)

    ids: tuple[str, ...] = ()
    capacity: int = 2048

    def __contains__(self, item: object) -> bool:
        return str(item) in self.ids

    def add(self, *items: UUID | str) -> RecentIds:
        merged = tuple(dict.fromkeys((*self.ids, *(str(item) for item in items))))
        return self.model_copy(update={"ids": merged[-self.capacity :]})

    def extend(self, items: Iterable[UUID | str]) -> RecentIds:
        return self.add(*items)
