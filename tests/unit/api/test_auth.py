"""The API's edge without a stack: who may call what (401, 403) and what an order request must be (422).

The app's lifespan (event store pool, producer, stream reader) is not started: the publisher is replaced
by one that records what it was given, so a refused request is seen to publish nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import deps
from api.app import create_app
from api.publishing import Published
from api.tokens import Role
from runtime.settings import Settings
from schemas import Event, OrderRequested


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def publish(self, event: Event) -> Published:
        self.sent.append(event)
        return Published(event, "orders.requested", 0, len(self.sent) - 1)


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(tmp_path: Path, tokens: dict[Role, str], published: RecordingPublisher) -> TestClient:
    app = create_app(Settings(), tmp_path / "tokens.json")
    app.dependency_overrides[deps.publisher] = lambda: published
    return TestClient(app)  # not entered: no lifespan, no services


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ORDER = {"account_id": "acct-1", "symbol": "BTC/USDT", "side": "buy", "quantity": "0.01"}


def test_no_token_or_an_unknown_one_is_401(client: TestClient, published: RecordingPublisher) -> None:
    for headers in ({}, bearer("zvt_not-a-token"), {"Authorization": "Basic YTpi"}):
        for response in (
            client.get("/positions", headers=headers),
            client.post("/orders", json=ORDER, headers=headers),
        ):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
    assert published.sent == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RISK_OFFICER])
def test_only_a_trader_places_or_cancels(
    client: TestClient, tokens: dict[Role, str], published: RecordingPublisher, role: Role
) -> None:
    assert client.post("/orders", json=ORDER, headers=bearer(tokens[role])).status_code == 403
    assert client.post("/orders/o-1/cancel", headers=bearer(tokens[role])).status_code == 403
    assert published.sent == []


def test_a_trader_s_order_is_published_as_requested(
    client: TestClient, tokens: dict[Role, str], published: RecordingPublisher
) -> None:
    order = ORDER | {"quantity": 0.1, "limit_price": "65000.5", "order_id": "mine-1", "strategy_id": "s1"}
    response = client.post("/orders", json=order, headers=bearer(tokens[Role.TRADER]))
    assert response.status_code == 202, response.text
    (sent,) = published.sent
    assert isinstance(sent, OrderRequested)
    assert (sent.order_id, sent.account_id, sent.strategy_id) == ("mine-1", "acct-1", "s1")
    assert str(sent.quantity) == "0.1"  # as written, not through a float
    assert sent.order_type == "limit"
    assert sent.limit_price == Decimal("65000.5")
    assert sent.metadata == {"requested_by": Role.TRADER.value}
    assert response.json() | {"event_id": None} == {
        "order_id": "mine-1",
        "event_id": None,
        "event_type": "order.requested",
        "correlation_id": str(sent.correlation_id),
        "topic": "orders.requested",
        "partition": 0,
        "offset": 0,
    }


def test_orders_get_their_own_ids(
    client: TestClient, tokens: dict[Role, str], published: RecordingPublisher
) -> None:
    for _ in range(2):
        assert client.post("/orders", json=ORDER, headers=bearer(tokens[Role.TRADER])).status_code == 202
    first, second = (event for event in published.sent if isinstance(event, OrderRequested))
    assert first.order_id != second.order_id
    assert first.order_type == "market"


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": "-1"},
        {"quantity": "0"},
        {"quantity": "lots"},
        {"side": "hold"},
        {"symbol": "btcusdt"},
        {"order_type": "limit"},  # without its limit_price
        {"order_type": "market", "limit_price": "1"},
        {"stop_price": "1"},  # a stop price on a market order
        {"post_only": True},  # post-only market order
        {"unknown": 1},
        {"account_id": "has space"},
    ],
)
def test_an_invalid_order_is_422_and_not_published(
    client: TestClient, tokens: dict[Role, str], published: RecordingPublisher, change: dict[str, Any]
) -> None:
    response = client.post("/orders", json=ORDER | change, headers=bearer(tokens[Role.TRADER]))
    assert response.status_code == 422, response.text
    assert published.sent == []


def test_the_docs_are_served_without_a_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/orders", "/orders/{order_id}/cancel", "/positions", "/fills", "/pnl", "/alerts"} <= schema[
        "paths"
    ].keys()
    assert client.get("/docs").status_code == 200
