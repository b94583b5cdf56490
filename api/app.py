"""The FastAPI app: its lifespan holds the event store pool, the signed producer and the stream reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.dashboard import router as dashboard
from api.metrics import MetricsMiddleware
from api.publishing import Publisher
from api.routers import controls, orders, portfolio, risk, stream
from api.stream import StreamHub
from api.tokens import TokensFile, tokens_path
from eventstore.db import create_pool
from runtime.settings import Settings

DESCRIPTION = """The operator's API over the zvt pipeline and its event store (docs/api.md).

Every endpoint but `/healthz` and `/metrics` needs `Authorization: Bearer <token>` (`zvt api tokens add`):
viewers read, traders also place and cancel orders, risk officers also use the runtime controls."""


def create_app(settings: Settings, tokens: Path | None = None, *, stream_events: bool = True) -> FastAPI:
    """The app for `settings` (its topic prefix, principal and event store). `stream_events=False` leaves
    the Kafka reader out (the WebSocket then streams nothing): for a benchmark of the REST path alone."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings.postgres_url(), min_size=1, max_size=8)
        app.state.publisher = Publisher(settings)
        app.state.hub = StreamHub(settings)
        try:
            await app.state.publisher.start()
            if stream_events:
                await app.state.hub.start()
            yield
        finally:
            await app.state.hub.stop()
            await app.state.publisher.stop()
            await app.state.pool.close()

    app = FastAPI(title="zvt", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.tokens = TokensFile(tokens or tokens_path(settings))
    app.add_middleware(MetricsMiddleware)
    for router in (
        orders.router,
        portfolio.router,
        risk.router,
        stream.router,
        controls.router,
        dashboard.router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Answers once the pool, the producer and the stream reader have started."""
        return {"status": "ok", "topic_prefix": settings.topic_prefix}

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
