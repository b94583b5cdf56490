"""Runtime controls: commands an operator (an API user, a CLI operator) gives the running pipeline.

A kill switch (global or per account), a strategy's halt, an account's risk limits changed at runtime.
Each names who issued it and why, is signed like every event and stored in the event store; every agent
worker reads the whole control topic and folds it into its control state (`trading.controls`).

`scope` is the Kafka key (`global`, `account:<id>`, `strategy:<id>`), derived from the command and checked
against it: the commands of one scope stay in the order they were given.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from schemas.base import Event
from schemas.primitives import Identifier

# Who issued a command: an API user's name (`zvt api tokens add`) or the CLI operator's login.
Operator = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@:-]+$", min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
GLOBAL_SCOPE = "global"


class LimitName(StrEnum):
    """The risk limits (`trading.config.RiskLimits`) an account may have changed at runtime: every one but
    the kill switch, which has its own command (a unit test checks the two lists agree)."""

    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_OPEN_ORDERS = "max_open_orders"
    MAX_ORDERS_PER_WINDOW = "max_orders_per_window"
    RATE_WINDOW_SECONDS = "rate_window_seconds"
    PRICE_COLLAR = "price_collar"


# Counts: a whole number.
WHOLE_LIMITS = frozenset({LimitName.MAX_OPEN_ORDERS, LimitName.MAX_ORDERS_PER_WINDOW})
# No limit is anywhere near this (1e15 of quote currency); beyond it risk's arithmetic would be meaningless.
MAX_LIMIT = Decimal(10) ** 15


def limit_value(name: str, value: object) -> tuple[LimitName, Decimal]:
    """`name=value` as a limit change, or a ValueError that says what is wrong with it: an unknown limit,
    a value that is not a decimal number, not above 0, too large, or not whole where a count is asked."""
    if name == "kill_switch":
        raise ValueError("the kill switch has a command of its own (zvt control kill-switch)")
    try:
        limit = LimitName(name)
    except ValueError:
        known = ", ".join(sorted(LimitName))
        raise ValueError(f"unknown limit {name!r} (known: {known})") from None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{limit}: give the amount as a decimal string, not {type(value).__name__}")
    try:  # a JSON number as written (a float's repr is its shortest round trip), as pydantic reads one
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"{limit}: {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"{limit}: {value!r} is not a finite number")
    if amount <= 0:
        raise ValueError(f"{limit} must be above 0, got {amount}")
    if amount >= MAX_LIMIT:
        raise ValueError(f"{limit} must be below {MAX_LIMIT:.0e}, got {amount}")
    if limit in WHOLE_LIMITS and amount != amount.to_integral_value():
        raise ValueError(f"{limit} is a count: a whole number, got {amount}")
    return limit, amount


class ControlCommand(Event):
    """What every control command carries besides the envelope: who gave it, why, and its scope (key)."""

    EVENT_TYPE = ""

    issued_by: Operator
    reason: Reason
    scope: str = ""  # filled from the command; the topic's key

    def scope_of(self) -> str:
        raise NotImplementedError

    @model_validator(mode="after")
    def _check_scope(self) -> Self:
        wanted = self.scope_of()
        if not self.scope:
            object.__setattr__(self, "scope", wanted)
        elif self.scope != wanted:
            raise ValueError(f"scope must be {wanted!r} for this command, got {self.scope!r}")
        return self


class KillSwitchSet(ControlCommand):
    """The kill switch engaged (every new order refused `kill_switch`) or released, for every account
    (`account_id` None) or one."""

    EVENT_TYPE = "control.kill_switch_set"

    account_id: Identifier | None = None
    engaged: bool

    def scope_of(self) -> str:
        return GLOBAL_SCOPE if self.account_id is None else f"account:{self.account_id}"


class StrategyHaltSet(ControlCommand):
    """A strategy halted (it decides on no more prices, so it sends no orders) or resumed."""

    EVENT_TYPE = "control.strategy_halt_set"

    strategy_id: Identifier
    halted: bool

    def scope_of(self) -> str:
        return f"strategy:{self.strategy_id}"


class AccountLimitsSet(ControlCommand):
    """Some of an account's risk limits changed at runtime (`limits`), or given back to the configured
    value (`reset`); the limits not named keep what they had."""

    EVENT_TYPE = "control.limits_set"

    account_id: Identifier
    limits: dict[LimitName, Decimal] = Field(default_factory=dict)
    reset: tuple[LimitName, ...] = ()

    @field_validator("limits", mode="before")
    @classmethod
    def _valid_limits(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic says what it wanted
        return dict(limit_value(str(name), amount) for name, amount in value.items())

    @model_validator(mode="after")
    def _something_changes(self) -> Self:
        if not self.limits and not self.reset:
            raise ValueError("name at least one limit to change or reset")
        both = sorted(set(self.limits) & set(self.reset))
        if both:
            raise ValueError(f"changed and reset at once: {', '.join(both)}")
        return self

    def scope_of(self) -> str:
        return f"account:{self.account_id}"


CONTROL_COMMANDS: tuple[type[ControlCommand], ...] = (KillSwitchSet, StrategyHaltSet, AccountLimitsSet)
