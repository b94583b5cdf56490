"""Ticks and commands (orders, cancels, amends, expiries) merged into one market-time order, released only
when nothing earlier can still arrive: the same inputs give the same sequence whatever their arrival order.

Two watermarks decide what is released:
- ticks are complete through time t once a later tick has been seen (a feed is in market-time order) or
  the caller says so (`ticks_through`: a quiet venue, the end of a recording);
- commands are complete through t only when the caller says so (`commands_through`): the source of
  orders knows how far its market time has gone (a strategy that applied every price up to t).
A tick at t waits for the commands through t; a command at t waits for the ticks through t (those at t are
in force when it arrives) and for the commands before it. At equal times: expiries, then ticks in feed
order, then new orders, amends and cancels, each by account, order id and event id.

An input that should have come before what was already released (a watermark that was wrong), or a tick
older than the feed's last (a live feed's small reorder), is taken at the latest time already seen and
counted in `late`: the outcome then depends on arrival, and a caller should see it.

A command whose source declares no watermark (an order placed by hand, a workflow's) is `unsourced`: it is
taken at its own time if that lies between the time released and the newest tick, else at the nearer of
the two (counted in `unsourced`, not `late`): it never waits for a watermark no one will send, and never
goes back before what was matched.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Final, Generic, TypeVar

END_OF_TIME: Final = datetime.max.replace(tzinfo=UTC)
BEGINNING: Final = datetime.min.replace(tzinfo=UTC)
JUST_BEFORE: Final = timedelta(microseconds=1)

T = TypeVar("T")


class Rank(IntEnum):
    """The order of inputs at the same market time."""

    EXPIRY = 0  # good till t: not live at t
    TICK = 1  # the market at t is in force for what arrives at t
    SUBMIT = 2
    AMEND = 3
    CANCEL = 4  # a cancel at the time of a fill loses: the tick came first


@dataclass(frozen=True, order=True, slots=True)
class Key:
    time: datetime
    rank: Rank
    tie: tuple[str, ...] = ()  # commands: account, order id, event id; ticks: empty (feed order)


@dataclass(order=True, slots=True)
class _Queued(Generic[T]):
    key: Key
    sequence: int
    item: T = field(compare=False)


class MarketTimeMerger(Generic[T]):
    """The merge of one venue and symbol's tick feed with its commands, by market time."""

    def __init__(self) -> None:
        self._ticks: deque[_Queued[T]] = deque()
        self._commands: list[_Queued[T]] = []
        self._sequence = 0
        self._latest_tick = BEGINNING
        self._ticks_declared = BEGINNING
        self._commands_declared = BEGINNING
        self._last_released = Key(BEGINNING, Rank.EXPIRY)
        self.late = 0
        self.unsourced = 0

    @property
    def released_through(self) -> datetime:
        """The market time of the last input released: the time the book has reached."""
        return self._last_released.time

    def add_tick(self, time: datetime, item: T) -> None:
        if Key(time, Rank.TICK) < self._last_released or time < self._latest_tick:
            self.late += 1
            time = max(self._latest_tick, self.released_through)
        self._latest_tick = time
        self._ticks.append(_Queued(Key(time, Rank.TICK), self._next(), item))

    def add_command(
        self, time: datetime, rank: Rank, tie: tuple[str, ...], item: T, *, unsourced: bool = False
    ) -> None:
        """An order, amend or cancel at the market time it reaches the book; expiries are commands too.
        `unsourced`: no watermark covers it, so it is taken within what the feed has reached."""
        if unsourced:
            newest = max(self._latest_tick, self.released_through)  # no tick yet: its own time
            bounded = min(max(time, self.released_through), newest if newest > BEGINNING else time)
            if bounded != time:
                self.unsourced += 1
                time = bounded
        elif Key(time, rank, tie) < self._last_released:
            self.late += 1
            time = self.released_through
        heapq.heappush(self._commands, _Queued(Key(time, rank, tie), self._next(), item))

    def ticks_through(self, time: datetime) -> None:
        self._ticks_declared = max(self._ticks_declared, time)

    def commands_through(self, time: datetime) -> None:
        self._commands_declared = max(self._commands_declared, time)

    def end(self) -> None:
        """No more input of either kind: everything may be released."""
        self.ticks_through(END_OF_TIME)
        self.commands_through(END_OF_TIME)

    def release(self) -> Iterator[tuple[Key, T]]:
        """Every input that nothing earlier can still precede, in market-time order, one at a time: what
        the consumer adds while handling one (an expiry) takes its place among the rest."""
        while True:
            head = self._head()
            if head is None or not self._releasable(head.key):
                return
            if self._ticks and head is self._ticks[0]:
                self._ticks.popleft()
            else:
                heapq.heappop(self._commands)
            self._last_released = max(self._last_released, head.key)
            yield head.key, head.item

    def pending(self) -> int:
        return len(self._ticks) + len(self._commands)

    def pending_commands(self) -> int:
        return len(self._commands)

    def waiting_for_ticks(self) -> datetime | None:
        """The latest time of an order, amend or cancel that the commands' watermark has released but the
        ticks' has not (no later tick yet: the end of a recording, a quiet venue); None if none waits.
        Expiries are left out: a good-till time is no sign of how far the market has come."""
        waiting = [
            queued.key.time
            for queued in self._commands
            if queued.key.rank is not Rank.EXPIRY
            and queued.key.time <= self._commands_declared
            and queued.key.time >= self._latest_tick
            and queued.key.time > self._ticks_declared
        ]
        return max(waiting, default=None)

    def complete_through(self, *, ticks_matter: bool = True, ticks_fed: datetime = BEGINNING) -> datetime:
        """The latest market time T through which every input has been released and none can still come:
        the commands declared through T, the ticks complete through T (`ticks_matter`: only what rests
        on the book reacts to a tick), nothing pending at or before T. What was released through T has
        made every outcome of market time <= T (the outcome watermark). `ticks_fed`: the caller knows the
        ticks complete that far (a symbol's feed, in market-time order across its venues)."""
        through = self._commands_declared
        if ticks_matter:
            latest = self._latest_tick - JUST_BEFORE if self._latest_tick > BEGINNING else BEGINNING
            through = min(through, max(self._ticks_declared, ticks_fed, latest))
        head = self._head()
        if head is not None:
            through = min(through, head.key.time - JUST_BEFORE if head.key.time > BEGINNING else BEGINNING)
        return through

    def _head(self) -> _Queued[T] | None:
        tick = self._ticks[0] if self._ticks else None
        command = self._commands[0] if self._commands else None
        if tick is None or command is None:
            return tick or command
        return tick if (tick.key, tick.sequence) <= (command.key, command.sequence) else command

    def _releasable(self, key: Key) -> bool:
        if self._commands_declared < key.time:
            return False  # a command before it may still come
        if key.rank is Rank.TICK:
            return True
        return self._latest_tick > key.time or self._ticks_declared >= key.time

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
