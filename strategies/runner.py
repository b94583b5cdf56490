"""Running configured strategies on prices: which instances a price drives, state in, orders out.

Still pure: the agent (`agents.strategies`) stores each `StrategySlot` in its changelog under
`strategy_id|symbol` and publishes the orders.

Copies are dropped without a window of event ids (a thousand strategies each keeping thousands of ids
would cost megabytes and a scan per price), in two ways, a few bytes per slot:
- A redelivered record, by offset: every price of a symbol is on one partition of `market.prices` (keyed
  by symbol), so a slot sees that symbol's prices in offset order, and "the last offset applied" says
  exactly what was applied.
- A price published again, by market time: after a crash the market data agent derives the prices of its
  uncommitted ticks again, same ids at new offsets. Each venue's prices of a symbol come in market-time
  order, so a slot keeps, per venue, the last market time applied and the ids applied at that time; an
  older price is a copy (or stale: a venue's clock going back), and is dropped too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas import OrderRequested, PriceUpdated
from schemas.primitives import OrderType
from strategies.base import Strategy
from strategies.config import StrategiesConfig, StrategySpec
from trading.ids import derived_id


class VenueMark(BaseModel):
    """The newest market time of a venue's prices applied to a slot, and the prices applied at it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market_time: AwareDatetime
    event_ids: tuple[UUID, ...]

    def covers(self, price: PriceUpdated) -> bool:
        """Whether `price` is one applied before (or older than them)."""
        return price.market_time < self.market_time or (
            price.market_time == self.market_time and price.event_id in self.event_ids
        )

    @classmethod
    def after(cls, mark: VenueMark | None, price: PriceUpdated) -> VenueMark:
        if mark is not None and price.market_time == mark.market_time:
            return cls(market_time=mark.market_time, event_ids=(*mark.event_ids, price.event_id))
        return cls(market_time=price.market_time, event_ids=(price.event_id,))


class StrategySlot(BaseModel):
    """One strategy's state on one symbol, as kept in the table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The kind's state model in memory; its JSON after recovery from the changelog (`load_state`).
    state: Any = None
    applied_offset: int = -1  # the last offset of market.prices applied to this slot
    venue_marks: dict[str, VenueMark] = {}  # venue -> its last market time applied


def slot_key(strategy_id: str, symbol: str) -> str:
    return f"{strategy_id}|{symbol}"


@dataclass(frozen=True)
class StrategyInstance:
    """A configured strategy: its spec and the kind built with its parameters."""

    spec: StrategySpec
    strategy: Strategy[Any, Any]

    def driven_by(self, price: PriceUpdated) -> bool:
        return self.spec.venue is None or self.spec.venue == price.venue

    def step(
        self, slot: StrategySlot | None, price: PriceUpdated, offset: int
    ) -> tuple[StrategySlot, list[OrderRequested]] | None:
        """The slot after `price` (at `offset` of its partition) and the orders; None for a redelivery."""
        slot = slot or StrategySlot()
        mark = slot.venue_marks.get(price.venue)
        if offset <= slot.applied_offset or (mark is not None and mark.covers(price)):
            return None
        state, intents = self.strategy.on_price(self.strategy.load_state(slot.state), price)
        orders = []
        for number, intent in enumerate(intents):
            # Same price, same strategy, same intent number: same ids, so a redone step is a copy.
            event_id = derived_id(price.event_id, f"strategy|{self.spec.id}|{number}")
            orders.append(
                price.caused(
                    OrderRequested,
                    event_id=event_id,
                    order_id=f"{self.spec.id}-{event_id.hex[:20]}",
                    account_id=self.spec.account,
                    strategy_id=self.spec.id,
                    symbol=price.symbol,
                    side=intent.side,
                    order_type=OrderType.MARKET if intent.limit_price is None else OrderType.LIMIT,
                    quantity=intent.quantity,
                    limit_price=intent.limit_price,
                    market_time=price.market_time,
                    venue=self.spec.venue,
                )
            )
        marks = slot.venue_marks | {price.venue: VenueMark.after(mark, price)}
        return StrategySlot(state=state, applied_offset=offset, venue_marks=marks), orders


class Roster:
    """Every configured strategy, indexed by symbol: a price reaches only the instances that trade it."""

    def __init__(self, config: StrategiesConfig) -> None:
        self.instances = [StrategyInstance(spec, spec.build()) for spec in config.strategies]
        self._by_symbol: dict[str, list[StrategyInstance]] = defaultdict(list)
        for instance in self.instances:
            for symbol in instance.spec.symbols:
                self._by_symbol[symbol].append(instance)

    def for_price(self, price: PriceUpdated) -> list[StrategyInstance]:
        return [instance for instance in self._by_symbol.get(price.symbol, ()) if instance.driven_by(price)]
