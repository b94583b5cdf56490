"""Pure ordering and timing of a replay: merge files by market time, and when to send each event.

No I/O here: the publisher walks these iterators and sleeps until each event's send time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TypeVar

from marketreplay.readers import Tick

T = TypeVar("T", bound=Tick)

MAX_SPEED = "max"


def merge_by_market_time(streams: Iterable[Iterable[T]]) -> Iterator[T]:
    """One stream in market-time order; equal times keep file order, then row order.

    `heapq.merge` is lazy (one pending row per file) and stable in exactly that sense. Each input is assumed
    to be in market-time order already, as recorded files are; a row out of order within its file stays
    where the file put it (the merge never reorders a file's rows).
    """
    return heapq.merge(*streams, key=lambda tick: tick.market_time)


def parse_speed(text: str) -> float | None:
    """`max` -> None (no pacing); otherwise a positive factor of real time (`1` = as recorded)."""
    if text.strip().lower() == MAX_SPEED:
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or {MAX_SPEED!r}, got {text!r}") from None
    if not speed > 0 or speed == float("inf"):
        raise ValueError(f"speed must be a positive number or {MAX_SPEED!r}, got {text!r}")
    return speed


def send_offsets(
    times: Iterable[datetime], speed: float | None, max_gap: timedelta | None = None
) -> Iterator[float]:
    """Seconds after the start at which to send each event: market time elapsed since the first, / speed.

    With no speed (`max`) every offset is 0. A gap in market time longer than `max_gap` counts as `max_gap`
    (files recorded years apart would otherwise wait years between them). Offsets never decrease: an event
    whose market time is earlier than one already sent (out of order in its file) goes right after it.
    """
    latest: datetime | None = None
    offset = 0.0
    for time in times:
        if speed is None:
            yield 0.0
            continue
        if latest is not None and time > latest:
            gap = time - latest
            offset += (gap if max_gap is None else min(gap, max_gap)).total_seconds() / speed
        latest = time if latest is None else max(latest, time)
        yield offset
