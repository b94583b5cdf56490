"""The risk monitor workflow's input, outputs and pure decisions (no Hatchet, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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
    as_of: datetime | None = None  # the time the breaches are judged at (re-alerts); by default the run's


class BreachState(BaseModel):
    """One lasting breach (account and rule), as the monitor remembers it between runs."""

    model_config = ConfigDict(frozen=True)

    since: datetime  # first seen, in this unbroken run of breaching checks
    alerted_at: datetime
    breach_id: UUID  # the risk.breached of the last alert
    derisked_by: UUID | None = None  # the breach whose de-risking rebalance was started (once per stretch)


class MonitorState(BaseModel):
    breaches: dict[str, BreachState] = {}  # "account:rule" -> state


class Snapshot(BaseModel):
    accounts: list[AccountSnapshot]
    price_history: dict[str, list[Decimal]]
    as_of: datetime  # the time this check judges its breaches at (re-alerts)
    state: MonitorState = MonitorState()  # as the previous run left it


class AccountRisk(BaseModel):
    account_id: str
    figures: RiskFigures | None = None
    error: str | None = None  # the figures could not be computed (e.g. a holding without prices)


class MonitorResult(BaseModel):
    correlation_id: UUID
    accounts: list[AccountRisk]
    events: list[RiskBreached | AlertTriggered]  # what this run publishes
    lasting: list[str] = []  # "account:rule" still breached, already alerted within the re-alert interval
    derisk: list[RiskBreached] = []  # breaches whose account this run de-risks
    state: MonitorState = MonitorState()  # what the next run starts from


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


def breach_key(breach: RiskBreached) -> str:
    return f"{breach.account_id}:{breach.rule}"


def track(
    result: MonitorResult, previous: MonitorState, now: datetime, limits: MonitorLimits
) -> MonitorResult:
    """Pure: what of `result` (every breach of this check) to publish and de-risk, given the breaches the
    previous runs saw. A new breach is alerted; one that lasts, again `realert_seconds` after its last
    alert; an account is de-risked once per unbroken breach of a `derisk_rules` rule. A breach no longer
    seen on an account that was assessed is forgotten (the next one is new); an account whose figures could
    not be computed keeps what it had."""
    realert = timedelta(seconds=float(limits.realert_seconds))
    unknown = {a.account_id for a in result.accounts if a.figures is None}
    state = {key: s for key, s in previous.breaches.items() if key.partition(":")[0] in unknown}
    alert_of = {e.causation_id: e for e in result.events if isinstance(e, AlertTriggered)}
    events: list[RiskBreached | AlertTriggered] = []
    lasting: list[str] = []
    derisk: list[RiskBreached] = []
    for breach in (e for e in result.events if isinstance(e, RiskBreached)):
        key, before = breach_key(breach), previous.breaches.get(breach_key(breach))
        wants_derisk = breach.rule in limits.derisk_rules and (before is None or before.derisked_by is None)
        if before is None or now - before.alerted_at >= realert or wants_derisk:
            events += [breach, alert_of[breach.event_id]]
            state[key] = BreachState(
                since=before.since if before else now,
                alerted_at=now,
                breach_id=breach.event_id,
                derisked_by=before.derisked_by if before else None,
            )
        else:
            lasting.append(key)
            state[key] = before
        if wants_derisk:
            derisk.append(breach)
            state[key] = state[key].model_copy(update={"derisked_by": breach.event_id})
    return result.model_copy(
        update={"events": events, "lasting": lasting, "derisk": derisk, "state": MonitorState(breaches=state)}
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
