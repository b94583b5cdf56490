"""Moving-average crossover: long while the fast average is above the slow one, flat otherwise."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from schemas import PriceUpdated
from schemas.primitives import Quantity
from strategies.base import OrderIntent, Params, Strategy, TargetState, register


class MACrossoverParams(Params):
    fast: int = Field(gt=0)  # prices in the fast average
    slow: int = Field(gt=1)  # prices in the slow average
    quantity: Quantity  # the long position held while fast > slow

    @model_validator(mode="after")
    def _fast_shorter_than_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class MACrossoverState(TargetState):
    prices: tuple[Decimal, ...] = ()  # the last `slow` prices, oldest first
    above: bool | None = None  # fast above slow at the last price that told them apart


@register
class MACrossover(Strategy[MACrossoverParams, MACrossoverState]):
    """Trades only on a crossing: the first full window sets the side, without an order."""

    kind = "ma_crossover"
    params_model = MACrossoverParams
    state_model = MACrossoverState

    def on_price(
        self, state: MACrossoverState, price: PriceUpdated
    ) -> tuple[MACrossoverState, list[OrderIntent]]:
        fast, slow = self.params.fast, self.params.slow
        prices = (*state.prices, price.price)[-slow:]
        if len(prices) < slow:
            return state.model_copy(update={"prices": prices}), []
        # fast mean vs slow mean without dividing: sum_fast / fast vs sum_slow / slow, exactly.
        difference = sum(prices[-fast:], Decimal(0)) * slow - sum(prices, Decimal(0)) * fast
        above = state.above if difference == 0 else difference > 0
        intents: list[OrderIntent] = []
        position = state.position
        if state.above is not None and above != state.above:
            position, intents = state.toward(self.params.quantity if above else Decimal(0))
        return MACrossoverState(prices=prices, above=above, position=position), intents
