"""Positions, fills and PnL with the performance figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api import queries
from api.auth import Reader
from api.deps import Account, Connection, Limit, Since
from eventstore.projections import Position
from schemas import OrderExecuted
from trading.analytics import Basis

router = APIRouter(tags=["portfolio"])


@router.get("/positions", response_model=list[Position])
async def positions(_: Reader, connection: Connection, account_id: Account = None) -> list[Position]:
    """Each account's position in each symbol: the event store's read model of its latest position.updated
    (`last_event_version`: that aggregate's version; `last_position`: its place in the store)."""
    return await queries.positions(connection, account_id)


@router.get("/fills", response_model=list[OrderExecuted])
async def fills(
    _: Reader, connection: Connection, since: Since, account_id: Account = None, limit: Limit = 500
) -> list[Any]:
    """Fills (`order.executed`) stored since `since`, newest first."""
    return await queries.events(connection, [OrderExecuted], since=since, account_id=account_id, limit=limit)


@router.get("/pnl")
async def pnl(
    _: Reader,
    connection: Connection,
    since: Since,
    account_id: Account = None,
    capital: Annotated[
        Decimal, Query(gt=0, description="Each strategy's capital, in quote currency.")
    ] = Decimal(10000),
    period: Annotated[float, Query(ge=0.001, description="Seconds of market time between returns.")] = 1.0,
    limit: Annotated[int, Query(ge=1, le=200_000, description="Most stored events read.")] = 50_000,
) -> dict[str, Any]:
    """PnL per strategy, account and symbol with each strategy's figures (returns, Sharpe, Sortino, max
    drawdown and its duration, win rate, turnover, fees: `trading.analytics`) from the window's stored
    orders, fills and prices, and each account's portfolio read model."""
    if not capital.is_finite():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "capital must be a finite amount")
    basis = Basis(capital=capital, period=timedelta(seconds=period))
    return await queries.pnl(connection, since=since, account_id=account_id, basis=basis, limit=limit)
