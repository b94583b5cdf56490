"""The strategy API: a kind is a class with a parameter model, a state model and one pure step.

`on_price(state, price) -> (new state, order intents)` sees one price update of one symbol and nothing
else: no clock (market time is in the event), no other agent's state, no I/O. That keeps a strategy
replayable (the same prices give the same orders) and lets thousands of instances share one worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from schemas import PriceUpdated
from schemas.primitives import Price, Quantity, Side, SignedQuantity


class OrderIntent(BaseModel):
    """What a strategy wants to trade; the runner turns it into an `OrderRequested` under its ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    side: Side
    quantity: Quantity
    limit_price: Price | None = None  # None: a market order


class Params(BaseModel):
    """Base of every kind's parameters: frozen, and an unknown key is a configuration error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetState(BaseModel):
    """State of a strategy that trades toward a target position: the position it intends to hold.

    The intended position is the strategy's own bookkeeping (what it asked for), not the fills: a
    strategy reads no other agent's state. Rejections and partial fills show up in the portfolio.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: SignedQuantity = Decimal(0)

    def toward(self, target: Decimal) -> tuple[Decimal, list[OrderIntent]]:
        """The order that takes the intended position to `target` (none when already there)."""
        change = target - self.position
        if change == 0:
            return target, []
        side = Side.BUY if change > 0 else Side.SELL
        return target, [OrderIntent(side=side, quantity=abs(change))]


P = TypeVar("P", bound=Params)
S = TypeVar("S", bound=BaseModel)


class Strategy(ABC, Generic[P, S]):
    """One strategy kind. Subclasses set `kind`, `params_model`, `state_model` and write `on_price`."""

    kind: ClassVar[str]
    params_model: ClassVar[type[Params]]
    state_model: ClassVar[type[BaseModel]]

    def __init__(self, params: P) -> None:
        self.params = params

    def initial_state(self) -> S:
        return self.state_model()  # type: ignore[return-value]

    @abstractmethod
    def on_price(self, state: S, price: PriceUpdated) -> tuple[S, list[OrderIntent]]:
        """The state after `price`, and the orders it calls for."""

    def load_state(self, stored: Any) -> S:
        """The state as kept in memory (the model itself) or recovered from the changelog (its JSON)."""
        if stored is None:
            return self.initial_state()
        if isinstance(stored, self.state_model):
            return stored  # type: ignore[return-value]
        return self.state_model.model_validate(stored)  # type: ignore[return-value]


KINDS: dict[str, type[Strategy[Any, Any]]] = {}
K = TypeVar("K", bound=type[Strategy[Any, Any]])


def register(cls: K) -> K:
    """Make a strategy class available to configuration under its `kind`."""
    if cls.kind in KINDS:
        raise ValueError(f"strategy kind {cls.kind!r} is registered twice")
    KINDS[cls.kind] = cls
    return cls
