"""The API's Prometheus metrics (served on its own `/metrics`), and the ASGI middleware that records them.

The route label is the route's template (`/orders/{order_id}/cancel`), never the raw path, so the label set
stays bounded whatever clients ask for.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds: a read model query takes about a millisecond, an order placement a Kafka acknowledgement.
_REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "zvt_api_requests", "API requests, by method, route and status.", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "zvt_api_request_seconds",
    "Time from an API request's arrival to its response's last byte, by method and route.",
    ["method", "route"],
    buckets=_REQUEST_BUCKETS,
)
STREAM_CLIENTS = Gauge("zvt_api_stream_clients", "WebSocket clients connected to the API's stream.")
STREAM_EVENTS = Counter(
    "zvt_api_stream_events",
    "Events the API's stream read, by channel and outcome (streamed; refused: bad signature, undecodable).",
    ["channel", "outcome"],
)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method, route = scope["method"], _route(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
