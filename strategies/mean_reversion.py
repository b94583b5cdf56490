"""Mean reversion: buy when the price is far below its rolling mean, sell (short) when far above.

The z-score is (price - mean) / standard deviation over the last `window` prices, the current one
included. The position opens at |z| >= `entry_z` and closes at |z| <= `exit_z`; between them it holds.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Self

from pydantic import Field, model_validator

from schemas import PriceUpdated
from schemas.primitives import Quantity
from strategies.base import OrderIntent, Params, Strategy, TargetState, register


class MeanReversionParams(Params):
    window: int = Field(ge=2)
    entry_z: Decimal = Field(gt=0)
    exit_z: Decimal = Field(default=Decimal(0), ge=0)
    quantity: Quantity  # the size of the long or short position
    allow_short: bool = True  # otherwise a price far above the mean only closes a long

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> Self:
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exit_z ({self.exit_z}) must be below entry_z ({self.entry_z})")
        return self


class MeanReversionState(TargetState):
    prices: tuple[Decimal, ...] = ()  # the last `window` prices, oldest first


@register
class MeanReversion(Strategy[MeanReversionParams, MeanReversionState]):
    kind = "mean_reversion"
    params_model = MeanReversionParams
    state_model = MeanReversionState

    def on_price(
        self, state: MeanReversionState, price: PriceUpdated
    ) -> tuple[MeanReversionState, list[OrderIntent]]:
        prices = (*state.prices, price.price)[-self.params.window :]
        target = self._target(prices, state.position)
        position, intents = state.toward(target)
        return MeanReversionState(prices=prices, position=position), intents

    def _target(self, prices: tuple[Decimal, ...], position: Decimal) -> Decimal:
        if len(prices) < self.params.window:
            return position
        n = len(prices)
        # z^2 = (n*price - sum)^2 / (n*sum_of_squares - sum^2): whole-number arithmetic, no rounding.
        with localcontext(prec=80):
            total = sum(prices, Decimal(0))
            spread = n * sum((p * p for p in prices), Decimal(0)) - total * total
            deviation = n * prices[-1] - total
            if spread == 0:
                return position  # a flat window says nothing
            squared = deviation * deviation
            quantity = self.params.quantity
            if squared >= self.params.entry_z**2 * spread:
                if deviation < 0:
                    return quantity
                return -quantity if self.params.allow_short else Decimal(0)
            if squared <= self.params.exit_z**2 * spread:
                return Decimal(0)
        return position
