"""What the endpoints share: the event store pool, the publisher, the stream hub and the query window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import Depends, Query, Request
from pydantic import AwareDatetime

from api.publishing import Publisher

DEFAULT_WINDOW = timedelta(days=1)
MAX_ROWS = 5000


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as held:
        yield held


def publisher(request: Request) -> Publisher:
    found: Publisher = request.app.state.publisher
    return found


def since(
    value: Annotated[
        AwareDatetime | None,
        Query(alias="since", description="Oldest time to include (ISO 8601 with a zone); default a day ago."),
    ] = None,
) -> datetime:
    return value or datetime.now(UTC) - DEFAULT_WINDOW


Connection = Annotated[asyncpg.Connection, Depends(connection)]
Since = Annotated[datetime, Depends(since)]
PublisherDep = Annotated[Publisher, Depends(publisher)]
Account = Annotated[str | None, Query(description="Only this account's.", max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description="Most rows returned, newest first.")]
