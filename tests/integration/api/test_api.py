"""`zvt api` on the real stack: who may do what, and an order placed through it reaching its fill and
position, on the WebSocket as they happen and in the event store after."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from api.tokens import Role
from schemas import OrderExecuted, OrderRequested, PositionUpdated
from topics import Topics

from ..pipeline.support import names, read_topics, wait_until
from .conftest import RunningApi

pytestmark = pytest.mark.integration
ORDER = {"symbol": "BTC/USDT", "side": "buy", "quantity": "0.25"}


async def test_refused_without_a_token_and_for_a_viewer_placing_an_order(running_api: RunningApi) -> None:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    order = ORDER | {"account_id": account}
    topics = names(running_api.settings, Topics.ORDERS_REQUESTED)
    async with (
        read_topics(running_api.settings, topics) as requested,
        httpx.AsyncClient(base_url=running_api.url) as client,
    ):
        assert (await client.get("/positions")).status_code == 401
        assert (await client.post("/orders", json=order)).status_code == 401
        wrong = {"Authorization": "Bearer zvt_made-up"}
        assert (await client.post("/orders", json=order, headers=wrong)).status_code == 401
        viewer = running_api.headers(Role.VIEWER)
        refused = await client.post("/orders", json=order, headers=viewer)
        assert refused.status_code == 403, refused.text
        assert (await client.get("/positions", headers=viewer)).status_code == 200
        # A trader's order after them is the only request the topic gets.
        placed = await client.post("/orders", json=order, headers=running_api.headers(Role.TRADER))
        assert placed.status_code == 202, placed.text
        await wait_until(lambda: bool(requested.of_type(OrderRequested)), 30, lambda: "no order.requested")
        await asyncio.sleep(1)
        assert [e.order_id for e in requested.of_type(OrderRequested)] == [placed.json()["order_id"]]
    with pytest.raises(InvalidStatus):  # the stream too: closed in the handshake (403)
        async with connect(running_api.url.replace("http", "ws") + "/stream"):
            pass


async def next_message(socket: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = orjson.loads(await socket.recv())
        if wanted(message):
            return message


async def test_an_order_through_the_api_reaches_position_updated_and_its_fill_is_streamed(
    running_api: RunningApi,
) -> None:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    trader, viewer = running_api.headers(Role.TRADER), running_api.headers(Role.VIEWER)
    topics = names(running_api.settings, Topics.ORDERS_EXECUTED, Topics.POSITIONS)
    stream_url = (
        running_api.url.replace("http", "ws") + f"/stream?channels=fills,positions&account_id={account}"
    )
    async with (
        read_topics(running_api.settings, topics) as output,
        connect(stream_url, additional_headers=viewer) as socket,
        httpx.AsyncClient(base_url=running_api.url) as client,
    ):
        ready = orjson.loads(await socket.recv())
        assert ready["channel"] == "ready"
        placed = await client.post("/orders", json=ORDER | {"account_id": account}, headers=trader)
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]

        def filled() -> bool:
            return any(e.order_id == order_id for e in output.of_type(OrderExecuted))

        await wait_until(filled, 60, lambda: f"no fill of {order_id}\n{running_api.log_tails()}")
        (fill,) = [e for e in output.of_type(OrderExecuted) if e.order_id == order_id]
        await wait_until(
            lambda: any(p.last_fill_id == fill.fill_id for p in output.of_type(PositionUpdated)),
            60,
            lambda: f"no position.updated after fill {fill.fill_id}",
        )
        (position,) = [p for p in output.of_type(PositionUpdated) if p.last_fill_id == fill.fill_id]
        assert (position.account_id, position.quantity) == (account, Decimal("0.25"))

        async with asyncio.timeout(30):
            streamed = await next_message(socket, lambda m: m["channel"] == "fills")
            streamed_position = await next_message(socket, lambda m: m["channel"] == "positions")
        assert OrderExecuted.model_validate(streamed["event"]) == fill
        assert PositionUpdated.model_validate(streamed_position["event"]) == position

        # The event store (through the sink) tells the same: positions, fills, the order and its trace.
        async def stored() -> tuple[list[Any], list[Any]]:
            query = {"params": {"account_id": account}, "headers": viewer}
            lines = (await client.get("/positions", **query)).json()  # type: ignore[arg-type]
            orders = (await client.get("/orders", **query)).json()  # type: ignore[arg-type]
            return [line["quantity"] for line in lines], [
                (o["order_id"], o["status"], o["filled"]) for o in orders
            ]

        expected = (["0.25"], [(order_id, "filled", "0.25")])
        async with asyncio.timeout(60):
            while (found := await stored()) != expected:  # noqa: ASYNC110 - another process's writes
                await asyncio.sleep(0.3)
        assert found == expected
        fills = (await client.get("/fills", params={"account_id": account}, headers=viewer)).json()
        assert [OrderExecuted.model_validate(f) for f in fills] == [fill]
        pnl = (await client.get("/pnl", params={"account_id": account}, headers=viewer)).json()
        assert [line["quantity"] for line in pnl["by_strategy"]] == ["0.25"]

        # A cancel of the filled order goes into its chain (its correlation), stored by the sink. (Its answer
        # comes from the order stage only with ZVT_PAPER_ENGINE, which this worker runs without.)
        cancel = await client.post(f"/orders/{order_id}/cancel", headers=trader)
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["correlation_id"] == str(fill.correlation_id)

        def kinds(nodes: list[dict[str, Any]]) -> list[str]:
            return [kind for node in nodes for kind in (node["event_type"], *kinds(node["children"]))]

        async def traced() -> list[str]:
            return kinds((await client.get(f"/orders/{order_id}/trace", headers=viewer)).json())

        async with asyncio.timeout(60):
            while "order.cancel_requested" not in await traced():  # noqa: ASYNC110 - the sink's writes
                await asyncio.sleep(0.3)
        chain = await traced()
        assert chain[0] == "order.requested"
        assert {"order.executed", "position.updated"} <= set(chain)
