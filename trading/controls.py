"""The runtime control state: the fold of every control command, and what it makes of an account's limits.

Pure: the agents read the control topic (agents/controls.py) and hand the state in; risk gets the account's
*effective* limits (`effective_limits`), the strategies stage asks `halted`.

**Which clock.** Risk decides in market time, so a replay of recorded data decides alike at any speed; a
control command is an operator's action in wall-clock time, and takes effect on the orders a worker checks
after it has read the command, whatever their market time. A replay of recorded market data therefore does
not replay the operator's commands (they are not in the data), and a command given during a session makes
its outcome depend on when it was given. What the state was at any moment is in the event store
(`control.*` events, `zvt trace`).

**Precedence.** The configured limits (`config/trading.toml`) are the base; a runtime change of a limit
replaces that limit until it is reset. The kill switch is on for an account when the global one is engaged,
or the account's is: its runtime command when there has been one, else its configured `kill_switch`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.controls import AccountLimitsSet, ControlCommand, KillSwitchSet, LimitName, StrategyHaltSet
from trading.config import RiskLimits


class Setting(BaseModel):
    """The last command of one switch: on or off, who gave it, why, when, and which event it was."""

    model_config = ConfigDict(frozen=True)

    on: bool
    issued_by: str
    reason: str
    at: datetime
    event_id: UUID

    @classmethod
    def of(cls, command: ControlCommand, on: bool) -> Setting:
        return cls(
            on=on,
            issued_by=command.issued_by,
            reason=command.reason,
            at=command.timestamp,
            event_id=command.event_id,
        )


class LimitSetting(BaseModel):
    """One limit changed at runtime for an account: its value, and who changed it, why and when."""

    model_config = ConfigDict(frozen=True)

    value: Decimal
    issued_by: str
    reason: str
    at: datetime
    event_id: UUID


class ControlState(BaseModel):
    """Every switch and limit the operators set, as of the last command folded in."""

    model_config = ConfigDict(frozen=True)

    global_kill: Setting | None = None
    account_kills: dict[str, Setting] = {}
    strategy_halts: dict[str, Setting] = {}
    limits: dict[str, dict[LimitName, LimitSetting]] = {}  # account -> the limits changed at runtime
    applied: int = 0  # commands folded in
    last_event_id: UUID | None = None

    def apply(self, command: ControlCommand) -> ControlState:
        """The state after `command` (a redelivered copy of the last one changes nothing)."""
        if command.event_id == self.last_event_id:
            return self
        update: dict[str, object] = {"applied": self.applied + 1, "last_event_id": command.event_id}
        if isinstance(command, KillSwitchSet):
            setting = Setting.of(command, command.engaged)
            if command.account_id is None:
                update["global_kill"] = setting
            else:
                update["account_kills"] = {**self.account_kills, command.account_id: setting}
        elif isinstance(command, StrategyHaltSet):
            halt = Setting.of(command, command.halted)
            update["strategy_halts"] = {**self.strategy_halts, command.strategy_id: halt}
        elif isinstance(command, AccountLimitsSet):
            changed = {
                name: LimitSetting(
                    value=value,
                    issued_by=command.issued_by,
                    reason=command.reason,
                    at=command.timestamp,
                    event_id=command.event_id,
                )
                for name, value in command.limits.items()
            }
            before = self.limits.get(command.account_id, {})
            kept = {name: found for name, found in before.items() if name not in command.reset}
            update["limits"] = {**self.limits, command.account_id: kept | changed}
        else:
            raise TypeError(f"not a control command: {command.event_type}")
        return self.model_copy(update=update)

    def kill_switch(self, account_id: str, configured: bool = False) -> bool:
        """Whether new orders of the account are refused: the global switch, or the account's (its runtime
        command if any, else `configured`)."""
        if self.global_kill is not None and self.global_kill.on:
            return True
        own = self.account_kills.get(account_id)
        return own.on if own is not None else configured

    def halted(self, strategy_id: str) -> bool:
        found = self.strategy_halts.get(strategy_id)
        return found is not None and found.on

    def overrides(self, account_id: str) -> dict[str, Decimal]:
        return {str(name): setting.value for name, setting in self.limits.get(account_id, {}).items()}


def kill_switch_detail(state: ControlState, account_id: str) -> str | None:
    """Which runtime switch refuses the account's orders, who engaged it, when and why: the detail of a
    `kill_switch` rejection (None: no runtime switch is on; the configured one, if any, refused it)."""
    own = state.account_kills.get(account_id)
    if state.global_kill is not None and state.global_kill.on:
        which, setting = "global kill switch", state.global_kill
    elif own is not None and own.on:
        which, setting = f"kill switch of {account_id}", own
    else:
        return None
    at = setting.at.isoformat(timespec="seconds")
    return f"{which} engaged by {setting.issued_by} at {at}: {setting.reason}"


def fold(commands: list[ControlCommand], state: ControlState | None = None) -> ControlState:
    """The state after every command, in order."""
    state = state or ControlState()
    for command in commands:
        state = state.apply(command)
    return state


def effective_limits(configured: RiskLimits, state: ControlState, account_id: str) -> RiskLimits:
    """The limits risk checks the account's orders against: the configured ones with the runtime changes
    and the kill switches applied (validated again as RiskLimits: a change is refused before it gets here,
    so this cannot fail on a valid state)."""
    overrides: dict[str, object] = dict(state.overrides(account_id))
    kill = state.kill_switch(account_id, configured.kill_switch)
    if not overrides and kill == configured.kill_switch:
        return configured  # the common case: nothing set at runtime
    return RiskLimits.model_validate(configured.model_dump() | overrides | {"kill_switch": kill})
