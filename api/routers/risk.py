"""Risk breaches and alerts, as stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import queries
from api.auth import Reader
from api.deps import Account, Connection, Limit, Since
from schemas import AlertTriggered, RiskBreached

router = APIRouter(tags=["risk"])


@router.get("/breaches", response_model=list[RiskBreached])
async def breaches(
    _: Reader, connection: Connection, since: Since, account_id: Account = None, limit: Limit = 500
) -> list[Any]:
    """Limits crossed (`risk.breached`) since `since`, newest first."""
    return await queries.events(connection, [RiskBreached], since=since, account_id=account_id, limit=limit)


@router.get("/alerts", response_model=list[AlertTriggered])
async def alerts(
    _: Reader, connection: Connection, since: Since, account_id: Account = None, limit: Limit = 500
) -> list[Any]:
    """Alerts (`alert.triggered`) since `since`, newest first."""
    return await queries.events(connection, [AlertTriggered], since=since, account_id=account_id, limit=limit)
