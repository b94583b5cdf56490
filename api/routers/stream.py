"""`/stream`: the WebSocket of fills, positions, breaches, alerts and control commands (see api.stream)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from api.auth import websocket_user
from api.stream import CHANNELS, StreamHub, Subscriber

router = APIRouter(tags=["stream"])
TOO_SLOW = 1013  # "try again later": this client did not keep up with its queue


@router.websocket("/stream")
async def stream(
    websocket: WebSocket, channels: str = ",".join(CHANNELS), account_id: str | None = None
) -> None:
    """Each message: `{"channel": "fills" | "positions" | "breaches" | "alerts" | "controls", "event":
    {...}}`, the event as published. `channels` (comma-separated) and `account_id` narrow it (but
    `controls`: every command, whichever account). The first message, `{"channel": "ready", ...}`, says
    the stream is live: what is published after it is streamed."""
    user = websocket_user(websocket)
    wanted = frozenset(name.strip() for name in channels.split(",") if name.strip())
    if user is None:
        await websocket.close(
            status.WS_1008_POLICY_VIOLATION, "a valid token of a user who may read is required"
        )
        return
    if not wanted or not wanted <= CHANNELS.keys():
        await websocket.close(status.WS_1008_POLICY_VIOLATION, f"channels are {', '.join(CHANNELS)}")
        return
    hub: StreamHub = websocket.app.state.hub
    await websocket.accept()
    with hub.subscribed(Subscriber(wanted, account_id)) as subscriber:
        await websocket.send_json({"channel": "ready", "user": user.name, "channels": sorted(wanted)})
        closed = asyncio.create_task(_until_closed(websocket))
        try:
            while not closed.done():
                getting = asyncio.ensure_future(subscriber.queue.get())
                overflow = asyncio.ensure_future(subscriber.overflowed.wait())
                done, _ = await asyncio.wait({getting, overflow, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getting in done:
                    await websocket.send_text(getting.result().decode())
                else:
                    getting.cancel()  # not done: it took nothing from the queue
                overflow.cancel()
                if subscriber.overflowed.is_set():
                    await websocket.close(TOO_SLOW, "too slow: events were waiting beyond the queue")
                    return
        finally:
            closed.cancel()


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
