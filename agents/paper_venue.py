"""Paper venue stage: the paper matching engine of every paper venue quoting a symbol, keyed by symbol.

Liquidity is shared by every account's orders on a venue and symbol, so the engine cannot live in the
account-keyed order stage: this stage reads `market.ticks` and `paper.commands` (both keyed by symbol,
co-partitioned) and feeds each (venue, symbol)'s `trading.paper_matching` engine; what the engines decide
goes out keyed by account (`orders.accepted`, `orders.executed`, `orders.canceled`, `orders.rejected`,
`orders.changes.rejected`). All matching is in market time: a command waits for the ticks past its arrival,
a tick of a symbol some strategy trades for every order stage partition's watermark (`paper.orders_through`,
the strategies' progress each partition forwards) past its time minus the latency. A symbol no strategy
trades has no watermark to wait for; a command no strategy decided (placed by hand) is taken within what
the feed has reached (`unsourced`). A command that waits only for a later tick (the end of a recording, a
quiet venue) is released after `market_settle_seconds` in which this stage had no backlog.

State: the engines of a symbol in process memory, and their snapshot (`trading.paper_state`) in the
changelog once per symbol per batch, with the input offsets it covers; a worker that gets a partition
without having held it rebuilds the engines from that snapshot. A tick the watermark has not passed is
parked, not buffered in the engine: read again from `market.ticks` after a restart, never in a snapshot.

Runs only with `ZVT_PAPER_ENGINE=true` (docs/order-lifecycle.md); off by default, so the pipeline is as it
was: the order stage then fills paper orders immediate-or-cancel itself.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from agents.context import catalog
from agents.settings import get_agent_settings, get_strategies_config, get_trading_config
from agents.stage import Batch, Item, Stage, register
from runtime.metrics import PAPER_LATE_INPUTS, PAPER_PENDING
from schemas import (
    AmendPaperOrder,
    CancelPaperOrder,
    Event,
    PaperOrdersThrough,
    PaperOutcomesThrough,
    PaperRiskOutcomesThrough,
    QuoteTick,
    StrategyOrderUpdate,
    SubmitPaperOrder,
    TradeTick,
)
from strategies.runner import Roster, order_update
from topics import KafkaTopic, StateChangelogs, Topics
from topics.dead_letter import DeadLetterReason
from topics.registry import ORDER_WATERMARK_SOURCES
from trading.ids import derived_id
from trading.market_time import BEGINNING, END_OF_TIME
from trading.markets import MarketRules
from trading.paper_matching import MatchingSettings, PaperMatchingEngine
from trading.paper_state import EngineState, load, save
from trading.risk import risk_outcome


class PaperSymbolState(BaseModel):
    """A symbol's engines (one per paper venue that quoted it or was sent an order) and the order
    watermark each source has declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engines: dict[str, EngineState] = {}
    orders_through: dict[str, datetime] = {}


@dataclass
class SymbolEngines:
    engines: dict[str, PaperMatchingEngine] = field(default_factory=dict)
    orders_through: dict[str, datetime] = field(default_factory=dict)
    # Memory only: how far the symbol's ticks (any venue: a partition's feed is in market-time order) are
    # known complete, and the outcome watermark last declared (a restart declares it again).
    ticks_fed: datetime = BEGINNING
    outcomes_declared: datetime = BEGINNING

    def state(self) -> PaperSymbolState:
        return PaperSymbolState(
            engines={venue: save(engine) for venue, engine in self.engines.items()},
            orders_through=dict(self.orders_through),
        )


JUST_BEFORE = timedelta(microseconds=1)


class NotPaperVenue(ValueError):
    """A command for a venue this stage does not match (live, or not listing the symbol)."""


RulesLookup = Callable[[str, str], MarketRules | None]
PaperCommand = SubmitPaperOrder | CancelPaperOrder | AmendPaperOrder
PaperInput = TradeTick | QuoteTick | PaperCommand | PaperOrdersThrough


def _every(_: object) -> bool:
    return True


def _never_behind() -> bool:
    return False


def _nobody(_: object) -> bool:
    return False


def _no_update(_: Event) -> StrategyOrderUpdate | None:
    return None


# The namespace of the outcome watermarks' ids: derived from it, the symbol and the time, so a watermark
# declared again after a restart is the same event.
OUTCOMES_THROUGH_IDS = derived_id(UUID(int=0), "paper.outcomes_through")


class PaperVenues:
    """The stage's handler and its memory: the engines of the symbols on this worker's partitions."""

    def __init__(
        self,
        rules: RulesLookup,
        settings: MatchingSettings,
        sources: tuple[str, ...] = ORDER_WATERMARK_SOURCES,
        *,
        watermarked: Callable[[str], bool] = _every,
        sourced: Callable[[PaperCommand], bool] = _every,
        settle_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        behind: Callable[[], bool] = _never_behind,
        heard: Callable[[str], bool] = _nobody,
        update_of: Callable[[Event], StrategyOrderUpdate | None] = _no_update,
    ) -> None:
        self.rules = rules  # a paper venue's rules for a symbol; None for a live venue or an unlisted one
        self.settings = settings
        self.sources = sources
        self.watermarked = watermarked  # whether a symbol's ticks wait for the sources' watermarks
        self.sourced = sourced  # whether a watermark covers a command's source (else: taken as it comes)
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.behind = behind  # whether this stage has a backlog (its inputs are not quiet)
        # Whether a strategy that hears of its own orders trades a symbol (its outcome watermark is then
        # declared), and an outcome as the update its strategy hears (None: not such a strategy's order).
        self.heard = heard
        self.update_of = update_of
        self.memory: dict[tuple[int, str], SymbolEngines] = {}
        # Engines (partition, symbol, venue) whose commands wait only for a later tick, since when.
        self._waiting: dict[tuple[int, str, str], float] = {}
        self._behind_at = float("-inf")
        # Per batch: each (partition, symbol, topic)'s last record taken (applied, refused or a copy), and
        # the symbols something was applied to: one snapshot per symbol at the batch's end.
        self._last: dict[tuple[int, str, str], Item] = {}
        self._dirty: set[tuple[int, str]] = set()
        # Ticks held behind the order watermark, per (partition, symbol), in arrival order (`_held`).
        self._holding: dict[tuple[int, str], deque[Item]] = {}

    # --- the stage's hooks ----------------------------------------------------------------------------

    async def prepare(self, items: list[Item], batch: Batch[PaperSymbolState]) -> None:
        self.plan(items)

    def plan(self, items: Iterable[Item]) -> None:
        """A new batch: nothing taken yet."""
        self._last.clear()
        self._dirty.clear()

    async def forget(self, assigned: object) -> None:
        """After a rebalance the engines are rebuilt from the stage's state (kept or recovered), which is
        exactly what the committed offsets cover."""
        self.memory.clear()
        self._waiting.clear()
        self._holding.clear()  # read again from the committed offsets

    def handle(self, item: Item, batch: Batch[PaperSymbolState]) -> None:
        event = item.event
        assert isinstance(event, PaperInput)
        symbol = event.symbol
        if isinstance(event, TradeTick | QuoteTick) and self._held(item, event, batch):
            return
        if not batch.applied(item, symbol):
            engines = self._engines(item, batch, symbol)
            try:
                self._publish(batch, self.apply(engines, event))
            except NotPaperVenue as exc:  # refused before any engine was touched; not raised on, so
                batch.dead_letter(item, DeadLetterReason.PROCESSING_FAILED, str(exc))  # it is recorded
            self._dirty.add((item.partition, symbol))
            if isinstance(event, PaperOrdersThrough):  # the symbol's held ticks may pass now
                self._release((item.partition, symbol), batch)
        if item.offset > batch.offset_of(item, symbol):
            # Also an upstream redo (dropped by its id, at a new offset): the snapshot records its offset.
            self._last[(item.partition, symbol, item.topic.name)] = item

    def _held(self, item: Item, tick: TradeTick | QuoteTick, batch: Batch[PaperSymbolState]) -> bool:
        """Hold a tick the order watermark has not passed (plus the latency), with every later tick of its
        symbol, in arrival order. The first held tick is parked (`Batch.park`), so its partition is
        committed no further: after a restart the held ticks are read again from `market.ticks`, never
        kept in a snapshot; the others wait here, not handed back with every batch (at full speed there
        are thousands). The engine learns that the ticks before the first are all in (a command waiting
        for them goes on)."""
        slot = (item.partition, tick.symbol)
        held = self._holding.get(slot)
        if held:
            if held[0] is item:  # the parked first one, handed back with a new batch
                self._release(slot, batch)
                return True
            held.append(item)
            batch.keep_back()
            return True
        if not self.watermarked(tick.symbol) or batch.applied(item, tick.symbol):
            return False
        engines = self._engines(item, batch, tick.symbol)
        if self._passed(engines, tick):
            return False
        self._holding[slot] = deque([item])
        self._hold_first(item, engines, batch)
        return True

    def _passed(self, engines: SymbolEngines, tick: TradeTick | QuoteTick) -> bool:
        through = self._orders_through(engines, tick.symbol)
        return through is not None and tick.market_time <= through + self.settings.latency

    def _hold_first(self, item: Item, engines: SymbolEngines, batch: Batch[PaperSymbolState]) -> None:
        tick = item.event
        assert isinstance(tick, TradeTick | QuoteTick)
        batch.park(item, f"ticks:{tick.symbol}")
        engines.ticks_fed = max(engines.ticks_fed, tick.market_time - JUST_BEFORE)  # all before it are in
        engine = self._engine(engines, tick.venue, tick.symbol)
        if engine is not None:
            engine.ticks_through(tick.market_time - JUST_BEFORE)
            released = self._run([engine])
            if released:
                self._publish(batch, released)
                self._dirty.add((item.partition, tick.symbol))

    def _release(self, slot: tuple[int, str], batch: Batch[PaperSymbolState]) -> None:
        """Apply the held ticks of `slot` the watermark has passed, in order; park the next first one."""
        held = self._holding.get(slot)
        if not held:
            return
        batch.unpark(f"ticks:{slot[1]}")  # the first one, if it was parked in this batch
        engines = self.memory[slot]
        while held:
            item = held[0]
            tick = item.event
            assert isinstance(tick, TradeTick | QuoteTick)
            if not self._passed(engines, tick):
                self._hold_first(item, engines, batch)
                return
            held.popleft()
            self._apply_held(item, batch)
        del self._holding[slot]

    def _apply_held(self, item: Item, batch: Batch[PaperSymbolState]) -> None:
        symbol = item.event.symbol  # type: ignore[attr-defined]
        if not batch.applied(item, symbol):
            self._publish(batch, self.apply(self.memory[(item.partition, symbol)], item.event))  # type: ignore[arg-type]
            self._dirty.add((item.partition, symbol))
        if item.offset > batch.offset_of(item, symbol):
            self._last[(item.partition, symbol, item.topic.name)] = item
        batch.remember(item)

    def snapshot(self, batch: Batch[PaperSymbolState]) -> None:
        """At the batch's end, each symbol something was applied to: its engines' state, recording the
        offset of its last record of each topic (one record per symbol per batch, not per tick)."""
        for (partition, symbol, _), item in self._last.items():
            if (partition, symbol) in self._dirty:
                batch.put(item, symbol, self.memory[(partition, symbol)].state())
        self._last.clear()
        self._dirty.clear()

    # --- matching -------------------------------------------------------------------------------------

    def apply(self, engines: SymbolEngines, event: PaperInput) -> list[Event]:
        """Feed one input to the engines it concerns; the events they release, in market-time order."""
        touched: list[PaperMatchingEngine] = []
        match event:
            case TradeTick() | QuoteTick():
                engines.ticks_fed = max(engines.ticks_fed, event.market_time - JUST_BEFORE)
                engine = self._engine(engines, event.venue, event.symbol)
                if engine is None:
                    return []  # not a paper venue, or not listed there
                engine.add_tick(event)
                touched.append(engine)
            case SubmitPaperOrder():
                # Every leg's venue first: a refused command changes no engine.
                venues = dict.fromkeys(leg.venue for leg in event.legs)
                legs = [self._paper(engines, venue, event) for venue in venues]
                for engine in legs:
                    engine.submit(event, sourced=self.sourced(event))
                touched.extend(legs)
            case CancelPaperOrder() | AmendPaperOrder():
                engine = self._paper(engines, event.venue, event)
                if isinstance(event, CancelPaperOrder):
                    engine.request_cancel(event, sourced=self.sourced(event))
                else:
                    engine.request_amend(event, sourced=self.sourced(event))
                touched.append(engine)
            case PaperOrdersThrough():
                known = engines.orders_through.get(event.source)
                if known is None or event.through > known:
                    engines.orders_through[event.source] = event.through
                through = self._orders_through(engines, event.symbol)
                if through is None:
                    return []
                for engine in engines.engines.values():
                    engine.orders_through(through)
                touched.extend(engines.engines.values())
        return self._run(touched)

    def _publish(self, batch: Batch[PaperSymbolState], events: list[Event]) -> None:
        """The engines' events, then the updates of them their strategies hear (on
        strategies.order_updates, ahead of the outcome watermark that covers them)."""
        batch.publish(events)
        batch.publish([update for event in events if (update := self.update_of(event)) is not None])
        batch.publish([outcome for event in events if (outcome := risk_outcome(event)) is not None])

    def declare_outcomes(self, batch: Batch[PaperSymbolState]) -> None:
        """After a batch's outcomes: each symbol some hearing strategy trades, the market time through
        which its engines have made every outcome (`paper.outcomes_through`), when it moved. A strategy
        deciding at t waits for it to pass t less its reaction delay, and the engines pass that as soon as
        the strategies have decided through it: no cycle while delay plus latency is above zero."""
        for (_, symbol), engines in self.memory.items():
            heard = self.heard(symbol)
            ordered = any(engine.has_had_orders for engine in engines.engines.values())
            if not engines.engines or not (heard or ordered):
                continue
            through = min(engine.outcomes_through(engines.ticks_fed) for engine in engines.engines.values())
            if through <= engines.outcomes_declared:
                continue
            engines.outcomes_declared = through
            label = f"{symbol}|{through.isoformat()}"
            if heard:
                mark = PaperOutcomesThrough(
                    event_id=derived_id(OUTCOMES_THROUGH_IDS, label), symbol=symbol, through=through
                )
                batch.publish([mark])
            if ordered:  # the order stage's risk waits for it only where an account has an order
                batch.publish(
                    PaperRiskOutcomesThrough(
                        event_id=derived_id(OUTCOMES_THROUGH_IDS, f"{label}|{partition}"),
                        symbol=symbol,
                        through=through,
                        partition=partition,
                    )
                    for partition in range(Topics.PAPER_OUTCOMES.partitions)
                )

    def _run(self, engines: Iterable[PaperMatchingEngine]) -> list[Event]:
        """What `engines` release now; their inputs taken at another time than their own counted."""
        events: list[Event] = []
        for engine in engines:
            late, unsourced = engine.late_inputs, engine.unsourced_inputs
            events.extend(engine.run())
            if engine.late_inputs > late:
                PAPER_LATE_INPUTS.labels(engine.venue, "late").inc(engine.late_inputs - late)
            if engine.unsourced_inputs > unsourced:
                PAPER_LATE_INPUTS.labels(engine.venue, "unsourced").inc(engine.unsourced_inputs - unsourced)
        return events

    def _orders_through(self, engines: SymbolEngines, symbol: str) -> datetime | None:
        """How far every source has declared its orders: None until each has said something; the end of
        time for a symbol no source decides on (nothing to wait for)."""
        if not self.watermarked(symbol):
            return END_OF_TIME
        marks = [engines.orders_through.get(source) for source in self.sources]
        if any(mark is None for mark in marks):
            return None
        return min(mark for mark in marks if mark is not None)

    # --- quiet venues ---------------------------------------------------------------------------------

    def settle(self, batch: Batch[PaperSymbolState]) -> None:
        """After each batch: its snapshots; then a command that waits only for a later tick (the end of a
        recording, a quiet venue) is released once this stage has had no backlog for `settle_seconds`
        since it began to wait, as the order stage settles the market of an order's time (`ticks_through`
        at its time)."""
        self.snapshot(batch)
        now = self.clock()
        if self.behind():
            self._behind_at = now
        pending = 0
        for (partition, symbol), engines in self.memory.items():
            released = False
            for venue, engine in engines.engines.items():
                pending += engine.pending_inputs
                slot = (partition, symbol, venue)
                through = engine.waiting_for_ticks()
                if through is None:
                    self._waiting.pop(slot, None)
                    continue
                since = self._waiting.setdefault(slot, now)
                if now - max(since, self._behind_at) < self.settle_seconds:
                    continue
                del self._waiting[slot]
                engine.ticks_through(through)
                self._publish(batch, self._run([engine]))
                released = True
            if released:
                batch.put_kept(partition, symbol, engines.state())
        PAPER_PENDING.set(pending)
        self.declare_outcomes(batch)

    def settling(self) -> bool:
        """Whether a command waits for a quiet release (the stage then runs batches without records)."""
        return bool(self._waiting)

    def _paper(
        self,
        engines: SymbolEngines,
        venue: str,
        command: SubmitPaperOrder | CancelPaperOrder | AmendPaperOrder,
    ) -> PaperMatchingEngine:
        """The engine a command names; a command for a venue that is not paper here is refused before any
        engine is touched (dead-lettered `processing-failed`)."""
        engine = self._engine(engines, venue, command.symbol)
        if engine is None:
            raise NotPaperVenue(f"{command.order_id}: {venue} is no paper venue of {command.symbol}")
        return engine

    def _engine(self, engines: SymbolEngines, venue: str, symbol: str) -> PaperMatchingEngine | None:
        engine = engines.engines.get(venue)
        if engine is None:
            rules = self.rules(venue, symbol)
            if rules is None:
                return None
            engine = engines.engines[venue] = PaperMatchingEngine(rules, self.settings)
            through = self._orders_through(engines, symbol)
            if through is not None:
                engine.orders_through(through)
        return engine

    def _engines(self, item: Item, batch: Batch[PaperSymbolState], symbol: str) -> SymbolEngines:
        slot = (item.partition, symbol)
        engines = self.memory.get(slot)
        if engines is None:
            engines = self.memory[slot] = self._restore(batch.get(item, symbol), symbol)
        return engines

    def _restore(self, state: PaperSymbolState | None, symbol: str) -> SymbolEngines:
        engines = SymbolEngines()
        if state is None:
            return engines
        engines.orders_through = dict(state.orders_through)
        for venue, saved in state.engines.items():
            rules = self.rules(venue, symbol)
            if rules is not None:  # a venue no longer configured as paper leaves with its orders
                engines.engines[venue] = load(rules, self.settings, saved)
        return engines


def _paper_rules(venue: str, symbol: str) -> MarketRules | None:
    """The configured paper venues' rules (ccxt metadata); live venues are not matched here."""
    config = get_trading_config()
    if venue not in config.venues or venue in config.live_venues:
        return None
    return catalog().get(venue, symbol)


# Ended orders each engine remembers to answer a late cancel or amend with the reason (`already_filled`)
# rather than `unknown_order`. Fewer than the pure engine's default: they are in every snapshot, and a
# changelog record must stay well under the broker's message size (about 500 bytes each: 250 kB).
ENDED_ORDERS_KEPT = 500

# The strategies the workers run decide in market time and publish their progress (agents.strategies):
# their symbols' ticks wait for it, their orders are covered by it; nothing else is.
_STRATEGIES = get_strategies_config().strategies
_DECIDED_SYMBOLS = frozenset(symbol for spec in _STRATEGIES for symbol in spec.symbols)
_DECIDING = frozenset((spec.id, spec.account) for spec in _STRATEGIES)
# The strategies that hear of their own orders (with the engine on) and the symbols they trade: this stage
# sends them the engine's outcomes of their orders itself, in sequence with its outcome watermark.
_HEARING = Roster(get_strategies_config(), engine=True).hearing
_HEARD_SYMBOLS = frozenset(symbol for i in _HEARING.values() for symbol in i.spec.symbols)


def _strategy_update(event: Event) -> StrategyOrderUpdate | None:
    update = order_update(event)
    return update if update is not None and update.strategy_id in _HEARING else None


def _decided_by_a_strategy(command: PaperCommand) -> bool:
    return (
        command.strategy_id is not None
        and (command.strategy_id, command.account_id) in _DECIDING
        and command.market_time is not None
    )


def _stage_behind() -> bool:
    return stage is not None and stage.behind()


paper_venues = PaperVenues(
    _paper_rules,
    replace(MatchingSettings.from_paper(get_trading_config().paper), terminal_orders_kept=ENDED_ORDERS_KEPT),
    watermarked=_DECIDED_SYMBOLS.__contains__,
    sourced=_decided_by_a_strategy,
    settle_seconds=get_agent_settings().market_settle_seconds,
    behind=_stage_behind,
    heard=_HEARD_SYMBOLS.__contains__,
    update_of=_strategy_update,
)

INPUTS: dict[KafkaTopic, tuple[type[Event], ...]] = {
    Topics.MARKET_TICKS: (TradeTick, QuoteTick),
    Topics.PAPER_COMMANDS: (SubmitPaperOrder, CancelPaperOrder, AmendPaperOrder, PaperOrdersThrough),
}

stage: Stage[PaperSymbolState] | None = None
if get_agent_settings().paper_engine:
    stage = register(
        Stage(
            "paper_venue",
            INPUTS,
            paper_venues.handle,
            state=PaperSymbolState,
            changelog=StateChangelogs.PAPER_VENUE,
            prepare=paper_venues.prepare,
            on_assigned=paper_venues.forget,
            settle=paper_venues.settle,
            settling=paper_venues.settling,
        )
    )
