"""A paper matching engine as data, and back: what the paper venue stage writes to its changelog.

The engine is rebuilt exactly as it was — its book with what paper orders took of each level, the last
trade, the working and recently ended orders with their time priority, and the merge queue with both
watermarks — so a worker that takes over a symbol's partition matches on as the previous one would have.
Pure: no I/O; events in the queue are kept as their codec JSON (the codec is a pure function too).

It reads the engine's and the merger's private fields on purpose: the snapshot is part of the engine's
implementation, kept beside it, not an API for anyone else.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas import CODEC, OrderAmendRequested, OrderBookUpdated, OrderCancelRequested, QuoteTick, TradeTick
from trading.market_time import Key, MarketTimeMerger, Rank, _Queued
from trading.markets import MarketRules
from trading.order_lifecycle import OrderLifecycle
from trading.paper_book import Level, PaperBook
from trading.paper_matching import MatchingSettings, PaperMatchingEngine, _Expiry, _Input


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelState(_Model):
    price: Decimal
    size: Decimal
    taken: Decimal


class KeyState(_Model):
    time: datetime
    rank: int
    tie: tuple[str, ...] = ()

    @classmethod
    def of(cls, key: Key) -> KeyState:
        return cls(time=key.time, rank=int(key.rank), tie=key.tie)

    def key(self) -> Key:
        return Key(self.time, Rank(self.rank), self.tie)


class QueuedState(_Model):
    """One input waiting behind a watermark: an order (its lifecycle), an expiry (its order's key), or a
    tick, cancel or amend (its event as codec JSON)."""

    key: KeyState
    sequence: int
    kind: Literal["order", "expiry", "event"]
    order: OrderLifecycle | None = None
    expiry: tuple[str, str] | None = None
    event: str | None = None


class WorkingState(_Model):
    order: tuple[str, str]  # account id, order id
    arrived: KeyState  # its time priority on the book


class EngineState(_Model):
    """Everything a `PaperMatchingEngine` holds between two inputs."""

    bids: tuple[LevelState, ...] = ()
    asks: tuple[LevelState, ...] = ()
    book_time: datetime | None = None
    last_trade: Decimal | None = None
    orders: tuple[OrderLifecycle, ...] = ()  # not yet ended
    ended: tuple[OrderLifecycle, ...] = ()  # oldest first, at most `terminal_orders_kept`
    working: tuple[WorkingState, ...] = ()  # in the engine's insertion order
    ticks: tuple[QueuedState, ...] = ()
    commands: tuple[QueuedState, ...] = ()  # the heap as it is (a valid heap stays one)
    sequence: int = 0
    latest_tick: datetime
    ticks_declared: datetime
    commands_declared: datetime
    last_released: KeyState
    late: int = 0
    unsourced: int = 0


def _queued(entry: _Queued[_Input]) -> QueuedState:
    item, key = entry.item, KeyState.of(entry.key)
    if isinstance(item, OrderLifecycle):
        return QueuedState(key=key, sequence=entry.sequence, kind="order", order=item)
    if isinstance(item, _Expiry):
        return QueuedState(key=key, sequence=entry.sequence, kind="expiry", expiry=item.order)
    return QueuedState(key=key, sequence=entry.sequence, kind="event", event=CODEC.encode(item).decode())


def _unqueued(state: QueuedState) -> _Queued[_Input]:
    item: _Input
    if state.kind == "order":
        assert state.order is not None
        item = state.order
    elif state.kind == "expiry":
        assert state.expiry is not None
        item = _Expiry(state.expiry)
    else:
        assert state.event is not None
        event = CODEC.decode(state.event.encode())
        assert isinstance(
            event, TradeTick | QuoteTick | OrderBookUpdated | OrderCancelRequested | OrderAmendRequested
        )
        item = event
    return _Queued(state.key.key(), state.sequence, item)


def _levels(levels: list[Level]) -> tuple[LevelState, ...]:
    return tuple(LevelState(price=lv.price, size=lv.size, taken=lv.taken) for lv in levels)


def save(engine: PaperMatchingEngine) -> EngineState:
    merger = engine._merger
    return EngineState(
        bids=_levels(engine.book.bids),
        asks=_levels(engine.book.asks),
        book_time=engine.book.market_time,
        last_trade=engine.last_trade,
        orders=tuple(engine._orders.values()),
        ended=tuple(engine._ended.values()),
        working=tuple(
            WorkingState(order=order, arrived=KeyState.of(key)) for order, key in engine._working.items()
        ),
        ticks=tuple(_queued(entry) for entry in merger._ticks),
        commands=tuple(_queued(entry) for entry in merger._commands),
        sequence=merger._sequence,
        latest_tick=merger._latest_tick,
        ticks_declared=merger._ticks_declared,
        commands_declared=merger._commands_declared,
        last_released=KeyState.of(merger._last_released),
        late=merger.late,
        unsourced=merger.unsourced,
    )


def load(rules: MarketRules, settings: MatchingSettings, state: EngineState) -> PaperMatchingEngine:
    """The engine `state` was saved from, for `rules`' venue and symbol."""
    engine = PaperMatchingEngine(rules, settings)
    book = PaperBook()
    book.bids = [Level(lv.price, lv.size, lv.taken) for lv in state.bids]
    book.asks = [Level(lv.price, lv.size, lv.taken) for lv in state.asks]
    book.market_time = state.book_time
    engine.book = book
    engine.last_trade = state.last_trade
    engine._orders = {(o.terms.account_id, o.terms.order_id): o for o in state.orders}
    engine._ended = OrderedDict(((o.terms.account_id, o.terms.order_id), o) for o in state.ended)
    engine._working = {w.order: w.arrived.key() for w in state.working}
    merger: MarketTimeMerger[_Input] = MarketTimeMerger()
    merger._ticks = deque(_unqueued(entry) for entry in state.ticks)
    merger._commands = [_unqueued(entry) for entry in state.commands]
    merger._sequence = state.sequence
    merger._latest_tick = state.latest_tick
    merger._ticks_declared = state.ticks_declared
    merger._commands_declared = state.commands_declared
    merger._last_released = state.last_released.key()
    merger.late = state.late
    merger.unsourced = state.unsourced
    engine._merger = merger
    return engine
