"""Strategy instances from configuration (`config/strategies.toml`): which kind, whose, on what, how.

Each `[[strategies]]` entry is one instance: `id` (its orders' `strategy_id`), `kind` (a registered
`Strategy`), `account`, `symbols`, optionally `venue` (whose prices drive it, and where it asks to trade)
and `[strategies.parameters]`, checked against the kind's parameter model when the file is loaded: a
typo or a missing parameter stops the worker with the strategy's id in the message.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from schemas.primitives import Identifier, Symbol, Venue
from strategies.base import KINDS, Params, Strategy

# Order ids are `<strategy id>-<20 hex digits>`, at most 64 characters.
StrategyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]+$", min_length=1, max_length=40)]


class StrategySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: StrategyId
    kind: str
    account: Identifier
    symbols: tuple[Symbol, ...] = Field(min_length=1)
    venue: Venue | None = None  # None: prices of every venue drive it, and the router picks the venue
    # How long after an outcome of its orders (a fill, a cancel) the strategy sees it, in market time: it
    # is applied at the strategy's first price at least this much later. Above 0: a price at t cannot wait
    # for an outcome of t itself (the engine makes that outcome only once the strategy has decided t).
    reaction_delay_ms: int = Field(default=100, gt=0)
    parameters: dict[str, Any] = {}
    _params: Params = PrivateAttr()

    @model_validator(mode="after")
    def _known_kind_and_valid_parameters(self) -> Self:
        cls = KINDS.get(self.kind)
        if cls is None:
            raise ValueError(f"strategy {self.id!r}: unknown kind {self.kind!r}; kinds: {sorted(KINDS)}")
        try:
            self._params = cls.params_model.model_validate(self.parameters)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'parameters'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ValueError(f"strategy {self.id!r} ({self.kind}) parameters: {problems}") from None
        return self

    def build(self, *, engine: bool = False) -> Strategy[Any, Any]:
        """The kind with these parameters; `engine`: GTC limit orders rest (ZVT_PAPER_ENGINE)."""
        strategy = KINDS[self.kind](self._params)
        strategy.engine = engine
        strategy.check_engine()
        return strategy


class StrategiesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: tuple[StrategySpec, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [spec.id for spec in self.strategies]
        repeated = sorted({strategy_id for strategy_id in ids if ids.count(strategy_id) > 1})
        if repeated:
            raise ValueError(f"strategy ids must be unique; repeated: {repeated}")
        return self

    @classmethod
    def from_toml(cls, path: Path) -> StrategiesConfig:
        with path.open("rb") as handle:
            return cls.model_validate(tomllib.load(handle))
