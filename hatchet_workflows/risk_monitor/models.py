"""The risk monitor workflow's input, outputs and pure decisions (no Hatchet, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from hatchet_workflows.rebalance.models import RebalanceInput
from schemas import AlertTriggered, Event, RiskBreached
from schemas.primitives import Identifier, Severity, Symbol
from trading.config import MonitorLimits
from trading.ids import derived_id
from trading.risk_metrics import RiskFigures, assess

# uuid5 namespace of monitor runs: a run's correlation id (and its events' ids) follow from its run id.
MONITOR_NAMESPACE = UUID("8d1e5b7a-2c4f-4e9b-a3d6-5f0c7e1b9a42")
SOURCE = "risk.monitor_portfolio"


class AccountSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: Identifier
    positions: dict[Symbol, Decimal]


class MonitorInput(BaseModel):
    """What to watch; empty fields are read from the event store (positions and recent prices)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: list[AccountSnapshot] | None = None
    price_history: dict[Symbol, list[Decimal]] | None = None  # oldest first, equally long
    window: int = 100  # recent prices per symbol read from the event store


class Snapshot(BaseModel):
    accounts: list[AccountSnapshot]
    price_history: dict[str, list[Decimal]]


class AccountRisk(BaseModel):
    account_id: str
    figures: RiskFigures | None = None
    error: str | None = None  # the figures could not be computed (e.g. a holding without prices)


class MonitorResult(BaseModel):
    correlation_id: UUID
    accounts: list[AccountRisk]
    events: list[RiskBreached | AlertTriggered]


def aligned(history: dict[str, list[Decimal]]) -> dict[str, list[Decimal]]:
    """Every symbol's history cut to the shortest one's length (the most recent prices kept); a symbol
    without prices is left out (an account holding it gets an error, not a figure)."""
    shortest = min((len(prices) for prices in history.values() if prices), default=0)
    return {symbol: prices[-shortest:] for symbol, prices in history.items() if prices}


def evaluate(snapshot: Snapshot, limits: MonitorLimits, correlation_id: UUID) -> MonitorResult:
    """Figures per account and, per crossed limit, a risk.breached and its alert (ids fixed by the run)."""
    history = aligned(snapshot.price_history)
    accounts: list[AccountRisk] = []
    events: list[Event] = []
    for account in snapshot.accounts:
        try:
            figures, breaches = assess(account.positions, history, limits)
        except ValueError as exc:
            accounts.append(AccountRisk(account_id=account.account_id, error=str(exc)))
            continue
        accounts.append(AccountRisk(account_id=account.account_id, figures=figures))
        for breach in breaches:
            key = f"{account.account_id}:{breach.rule}"
            breached = RiskBreached(
                event_id=derived_id(correlation_id, f"breach:{key}"),
                correlation_id=correlation_id,
                account_id=account.account_id,
                rule=breach.rule,
                limit=breach.limit,
                observed=breach.observed,
                severity=Severity.CRITICAL,
            )
            alert = breached.caused(
                AlertTriggered,
                event_id=derived_id(correlation_id, f"alert:{key}"),
                source=SOURCE,
                severity=Severity.CRITICAL,
                account_id=account.account_id,
                message=f"{account.account_id}: {breach.rule.replace('_', ' ')} {breach.observed} "
                f"above limit {breach.limit}",
            )
            events += [breached, alert]
    return MonitorResult(
        correlation_id=correlation_id,
        accounts=accounts,
        events=[e for e in events if isinstance(e, RiskBreached | AlertTriggered)],
    )


class Derisked(BaseModel):
    """The de-risking rebalances the monitor started: account -> the rebalance's final status."""

    statuses: dict[str, str]


def derisk_inputs(
    snapshot: Snapshot, breaches: Sequence[RiskBreached], limits: MonitorLimits
) -> list[RebalanceInput]:
    """One rebalance per account with a breach of a `derisk_rules` rule, caused by its first such breach:
    the account's long holdings cut to `derisk_scale` of what they are, at the latest prices (a target
    weight is the scaled share of the value the holdings have now; no cash, so no buys)."""
    latest = {symbol: prices[-1] for symbol, prices in snapshot.price_history.items() if prices}
    holdings = {account.account_id: account.positions for account in snapshot.accounts}
    planned: dict[str, RebalanceInput] = {}
    for breach in breaches:
        if breach.rule not in limits.derisk_rules or breach.account_id in planned:
            continue
        longs = {s: q for s, q in holdings.get(breach.account_id, {}).items() if q > 0 and s in latest}
        value = sum((q * latest[s] for s, q in longs.items()), Decimal(0))
        if value <= 0:
            continue
        planned[breach.account_id] = RebalanceInput(
            portfolio_id=f"derisk-{breach.account_id}",
            account_id=breach.account_id,
            target_weights={s: limits.derisk_scale * q * latest[s] / value for s, q in longs.items()},
            prices={s: latest[s] for s in longs},
            positions=longs,
            causation_id=breach.event_id,
        )
    return list(planned.values())
