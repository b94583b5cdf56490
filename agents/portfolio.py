"""Portfolio agent: positions and PnL per account and symbol from fills, re-marked as prices move."""

from __future__ import annotations

from agents.app import app, faust_topic, state_table
from agents.consumer import consume, publish
from agents.market_view import market_view
from schemas import Event, OrderExecuted
from topics import Topics
from trading.portfolio import PositionState

positions = state_table("portfolio-positions", PositionState)
REMARK_INTERVAL_SECONDS = 1.0
_marked_versions: dict[str, int] = {}  # position key -> the symbol's price version last published


def position_key(account_id: str, symbol: str) -> str:
    return f"{account_id}|{symbol}"


async def _on_fill(event: Event) -> None:
    assert isinstance(event, OrderExecuted)
    key = position_key(event.account_id, event.symbol)
    state = positions.get(key) or PositionState.open(event)
    if event.event_id in state.applied:
        return
    state = state.apply(event, market_view.last_price(event.symbol))
    await publish([state.event(event)])
    await positions.put(key, state.model_copy(update={"applied": state.applied.add(event.event_id)}))
    _marked_versions[key] = market_view.price_versions.get(event.symbol, 0)


@app.agent(faust_topic(Topics.ORDERS_EXECUTED), name="portfolio")
async def track_positions(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "portfolio",
        {Topics.ORDERS_EXECUTED: (OrderExecuted,)},
        _on_fill,
        before_first=market_view.wait_caught_up,
    )


@app.timer(interval=REMARK_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
async def remark_positions() -> None:
    """Publish positions whose symbol has a new price: unrealized PnL at the latest mark.

    The mark is not written back to the table (a timer has no source partition to write under); it is
    derived, and the next fill or re-mark recomputes it.
    """
    updates: list[Event] = []
    for key, state in list(positions.items()):
        version = market_view.price_versions.get(state.symbol, 0)
        mark = market_view.last_price(state.symbol)
        if mark is None or _marked_versions.get(key) == version or state.position.quantity == 0:
            continue
        _marked_versions[key] = version
        marked = state.marked(mark)
        updates.append(marked.event(None))
    if updates:
        await publish(updates, durable=False)
