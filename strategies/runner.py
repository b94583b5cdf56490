"""Running configured strategies on prices: which instances a price drives, state in, orders out.

Still pure: the agent (`agents.strategies`) stores each `StrategySlot` in a Faust table under
`strategy_id|symbol` and publishes the orders.

Redeliveries are dropped by offset, not by a window of event ids: every price of a symbol is on one
partition of `market.prices` (keyed by symbol), so a strategy's slot sees that symbol's prices in offset
order and "the last offset applied" says exactly what was applied, in O(1) and a few bytes per slot
(a thousand strategies each keeping thousands of ids would cost megabytes and a scan per price).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas import OrderRequested, PriceUpdated
from schemas.primitives import OrderType
from strategies.base import Strategy
from strategies.config import StrategiesConfig, StrategySpec
from trading.ids import derived_id


class StrategySlot(BaseModel):
    """One strategy's state on one symbol, as kept in the table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The kind's state model in memory; its JSON after recovery from the changelog (`load_state`).
    state: Any = None
    applied_offset: int = -1  # the last offset of market.prices applied to this slot


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
        if offset <= slot.applied_offset:
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
        return StrategySlot(state=state, applied_offset=offset), orders


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
