"""The risk monitor's rules on live positions: gross exposure and drawdown from the peak, per account.

A breach is reported when a limit is first crossed and again only after the account came back within it,
so a position hovering above a limit does not flood the alert channel.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from schemas import AlertTriggered, Event, PositionUpdated, RiskBreached
from schemas.primitives import Severity
from trading.config import MonitorLimits
from trading.ids import derived_id

ZERO = Decimal(0)
EXPOSURE_RULE = "gross_exposure"
DRAWDOWN_RULE = "drawdown"


class SymbolMark(BaseModel):
    model_config = ConfigDict(frozen=True)

    exposure: Decimal
    net_pnl: Decimal


class AccountMonitorState(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbols: dict[str, SymbolMark] = {}
    peak_net_pnl: Decimal = ZERO
    breached: frozenset[str] = frozenset()

    @property
    def gross_exposure(self) -> Decimal:
        return sum((mark.exposure for mark in self.symbols.values()), ZERO)

    @property
    def net_pnl(self) -> Decimal:
        return sum((mark.net_pnl for mark in self.symbols.values()), ZERO)


def observe(
    state: AccountMonitorState, update: PositionUpdated, limits: MonitorLimits
) -> tuple[AccountMonitorState, list[Event]]:
    """Fold one position update into the account's state; return the breaches and alerts it causes."""
    mark = update.mark_price or update.average_cost
    symbols = {
        **state.symbols,
        update.symbol: SymbolMark(
            exposure=abs(update.quantity) * mark,
            net_pnl=update.realized_pnl + update.unrealized_pnl - update.fees_paid,
        ),
    }
    state = state.model_copy(update={"symbols": symbols})
    state = state.model_copy(update={"peak_net_pnl": max(state.peak_net_pnl, state.net_pnl)})
    observed = {
        EXPOSURE_RULE: (state.gross_exposure, limits.max_gross_exposure),
        DRAWDOWN_RULE: (state.peak_net_pnl - state.net_pnl, limits.max_drawdown),
    }
    events: list[Event] = []
    breached = set(state.breached)
    for rule, (value, limit) in observed.items():
        if value > limit and rule not in breached:
            breached.add(rule)
            breach = update.caused(
                RiskBreached,
                event_id=derived_id(update.event_id, f"breach:{rule}"),
                account_id=update.account_id,
                rule=rule,
                symbol=update.symbol,
                limit=limit,
                observed=value,
                severity=Severity.CRITICAL,
            )
            alert = breach.caused(
                AlertTriggered,
                event_id=derived_id(update.event_id, f"alert:{rule}"),
                source="risk_monitor",
                severity=Severity.CRITICAL,
                message=f"{update.account_id}: {rule.replace('_', ' ')} {value} above limit {limit}",
                account_id=update.account_id,
            )
            events += [breach, alert]
        elif value <= limit and rule in breached:
            breached.discard(rule)
            events.append(
                update.caused(
                    AlertTriggered,
                    event_id=derived_id(update.event_id, f"cleared:{rule}"),
                    source="risk_monitor",
                    severity=Severity.INFO,
                    message=f"{update.account_id}: {rule.replace('_', ' ')} back within limit {limit}",
                    account_id=update.account_id,
                )
            )
    return state.model_copy(update={"breached": frozenset(breached)}), events
