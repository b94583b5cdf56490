"""The strategy API: a kind is a class with a parameter model, a state model and pure steps.

`on_price(state, price) -> (new state, intents)` sees one price update of one symbol and nothing else: no
clock (market time is in the event), no other agent's state, no I/O. That keeps a strategy replayable (the
same prices give the same orders) and lets thousands of instances share one worker.

A strategy also hears of its own orders, through the runner (`strategies.runner`), in market time: its
fills (`on_fill`), its resting orders' acceptance (`on_accepted`) and their end without a fill
(`on_ended`: canceled, expired, rejected), each with the view of its open orders (`OwnOrders`, keyed by
order id, each with the `key` the strategy gave it). `on_tick` is `on_price` with that view; it may ask for
orders (`OrderIntent`) and cancel its own (`CancelIntent`). An outcome of market time *f* is applied at
the strategy's first price of market time >= *f* + its reaction delay, before that price: the same prices
and outcomes give the same orders, however fast the outcomes came.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas import PriceUpdated, StrategyOrderUpdate
from schemas.primitives import Identifier, Price, Quantity, Side, SignedQuantity, TimeInForce


class OrderIntent(BaseModel):
    """What a strategy wants to trade; the runner turns it into an `OrderRequested` under its ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    side: Side
    quantity: Quantity
    limit_price: Price | None = None  # None: a market order
    # A limit order's time in force: GTC rests on the paper matching engine (ZVT_PAPER_ENGINE); without
    # the engine every order is filled immediate-or-cancel.
    time_in_force: TimeInForce = TimeInForce.GTC
    # The strategy's own name for the order (a grid level): shown again with its outcomes and open orders.
    key: str | None = Field(default=None, max_length=64)


class CancelIntent(BaseModel):
    """Cancel one of the strategy's own open orders (by its order id, from `OwnOrders`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: Identifier


Intent: TypeAlias = OrderIntent | CancelIntent


class OwnOrder(BaseModel):
    """One of the strategy's orders not yet ended, as the strategy knows it in market time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: Identifier
    key: str | None = None
    side: Side
    quantity: Quantity
    limit_price: Price | None = None
    decided_at: AwareDatetime  # the market time of the price it was decided on
    rests: bool = False  # may rest on the engine's book (a GTC limit with the engine on)
    working: bool = False  # the book holds it (order.accepted came)
    filled: Decimal = Decimal(0)
    cancel_requested: bool = False
    # The stage gave up waiting for its end (it never came within the wall-clock bound): prices no longer
    # wait for it. Not deterministic: set only when an answer was lost.
    given_up: bool = Field(default=False, exclude_if=operator.not_)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled


OwnOrders: TypeAlias = Mapping[str, OwnOrder]


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

    def check_engine(self) -> None:
        """Raise `ValueError` if the kind cannot run with `engine` as set (a kind that needs resting
        orders without the engine, say); by default it runs either way."""

    def initial_state(self) -> S:
        return self.state_model()  # type: ignore[return-value]

    # Whether the paper matching engine rests GTC limit orders (ZVT_PAPER_ENGINE): set by the roster.
    engine: bool = False

    @property
    def hears_orders(self) -> bool:
        """Whether the strategy hears of its own orders (it writes a callback or looks at its open orders
        in `on_tick`). One that does not keeps no orders in its slot and never waits for an outcome: it
        runs exactly as before the callbacks existed."""
        kind = type(self)
        return any(
            getattr(kind, name) is not getattr(Strategy, name)
            for name in ("on_tick", "on_fill", "on_accepted", "on_ended")
        )

    @abstractmethod
    def on_price(self, state: S, price: PriceUpdated) -> tuple[S, list[OrderIntent]]:
        """The state after `price`, and the orders it calls for."""

    def on_tick(self, state: S, price: PriceUpdated, orders: OwnOrders) -> tuple[S, list[Intent]]:
        """`on_price` with the strategy's open orders as of `price`'s market time (their outcomes up to
        the reaction delay before it applied); by default the orders are not looked at."""
        state, intents = self.on_price(state, price)
        return state, list(intents)

    def on_fill(
        self, state: S, order: OwnOrder, update: StrategyOrderUpdate, orders: OwnOrders, at: datetime
    ) -> tuple[S, list[Intent]]:
        """One fill of `order` (as it is after the fill; gone from `orders` once it filled completely),
        applied at market time `at` (the price it is applied before)."""
        return state, []

    def on_accepted(
        self, state: S, order: OwnOrder, update: StrategyOrderUpdate, orders: OwnOrders, at: datetime
    ) -> tuple[S, list[Intent]]:
        """`order` rests on the book (or waits for its stop price)."""
        return state, []

    def on_ended(
        self, state: S, order: OwnOrder, update: StrategyOrderUpdate, orders: OwnOrders, at: datetime
    ) -> tuple[S, list[Intent]]:
        """`order` ended without filling (further): canceled, expired or rejected (`update.kind`)."""
        return state, []

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
