"""Risk and alerting events: limits breached by a live position, and alerts for people."""

from __future__ import annotations

from pydantic import Field

from schemas.base import Event
from schemas.primitives import Identifier, Money, Severity, Symbol


class RiskBreached(Event):
    """A monitored limit (exposure, drawdown, VaR, ...) was crossed."""

    EVENT_TYPE = "risk.breached"

    account_id: Identifier
    rule: str = Field(pattern=r"^[a-z0-9_.]+$", max_length=64)
    symbol: Symbol | None = None
    limit: Money
    observed: Money
    severity: Severity = Severity.WARNING


class AlertTriggered(Event):
    """Something a person should look at."""

    EVENT_TYPE = "alert.triggered"

    source: str = Field(min_length=1, max_length=64)
    severity: Severity
    message: str = Field(min_length=1, max_length=2000)
    account_id: Identifier | None = None
