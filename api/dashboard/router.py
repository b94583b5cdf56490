"""`/dashboard`: the page and its two files, and the reads only it needs (open orders, latency, equity).

The page itself holds no data and needs no token (a browser cannot send one with a navigation); everything
it shows comes from the token-protected endpoints. It is sent with a Content-Security-Policy that allows
its own script and style only: no inline script, no other origin, so even a value that slipped past the
script's text-only rendering could not run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse

from api.auth import Reader
from api.dashboard import reads
from api.deps import Account, Connection, Since
from eventstore.orders import OrderView, open_orders

router = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
Events = Annotated[int, Query(ge=1, le=100_000, description="Most stored events read, newest first.")]


@router.get("/dashboard", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/dashboard/{asset}", include_in_schema=False)
async def asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=HEADERS)


@router.get("/whoami")
async def whoami(user: Reader) -> dict[str, Any]:
    """The caller's name and role: the dashboard shows the order ticket and cancel buttons to traders."""
    return {"user": user.name, "role": user.role.value}


@router.get("/orders/open", response_model=list[OrderView])
async def working(
    _: Reader, connection: Connection, since: Since, account_id: Account = None
) -> list[OrderView]:
    """Orders validated since `since` that nothing has ended, oldest first, each with its state
    (`validated`: on its way, `accepted`: resting, `partially_filled`), as `zvt orders` lists them."""
    return await open_orders(connection, since=since, account_id=account_id)


@router.get("/latency")
async def latency(
    _: Reader, connection: Connection, since: Since, account_id: Account = None, limit: Events = 5000
) -> dict[str, Any]:
    """Each pipeline step's latency (requested -> validated -> routed -> executed -> position.updated):
    p50/p90/p99/max and count in ms, over the window's newest `limit` order events."""
    return await reads.latencies(connection, since=since, account_id=account_id, limit=limit)


@router.get("/equity")
async def equity(
    _: Reader, connection: Connection, since: Since, account_id: Account = None, limit: Events = 20_000
) -> dict[str, Any]:
    """Net PnL over time, of all positions (`total_key`) and of each strategy: `[time, value]` points, at
    most 400 a curve. Orders placed by hand are placed at their request's time."""
    return await reads.equity(connection, since=since, account_id=account_id, limit=limit)
