"""Portfolio stage: positions and PnL per account and symbol from fills, re-marked as prices move."""

from __future__ import annotations

from agents.app import app
from agents.market_view import market_view
from agents.stage import Batch, Item, Stage, register
from schemas import Event, OrderExecuted
from topics import StateChangelogs, Topics
from trading.portfolio import PositionState

REMARK_INTERVAL_SECONDS = 1.0
_marked_versions: dict[str, int] = {}  # position key -> the symbol's price version last published


def position_key(account_id: str, symbol: str) -> str:
    return f"{account_id}|{symbol}"


def _on_fill(item: Item, batch: Batch[PositionState]) -> None:
    fill = item.event
    assert isinstance(fill, OrderExecuted)
    key = position_key(fill.account_id, fill.symbol)
    if batch.applied(item, key):
        return
    state = (batch.get(item, key) or PositionState.open(fill)).apply(
        fill, market_view.last_price(fill.symbol)
    )
    batch.publish([state.event(fill)])
    batch.put(item, key, state)
    _marked_versions[key] = market_view.price_versions.get(fill.symbol, 0)


stage: Stage[PositionState] = register(
    Stage(
        "portfolio",
        {Topics.ORDERS_EXECUTED: (OrderExecuted,)},
        _on_fill,
        state=PositionState,
        changelog=StateChangelogs.PORTFOLIO,
        ready=market_view.wait_caught_up,
    )
)


@app.timer(interval=REMARK_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
async def remark_positions() -> None:
    """Publish positions whose symbol has a new price: unrealized PnL at the latest mark.

    The mark is not written back to the state (it is derived; the next fill or re-mark recomputes it).
    """
    await stage.emit(_remarks)


def _remarks() -> list[Event]:
    updates: list[Event] = []
    if stage.store is None:
        return updates
    for key, state in stage.store.items():
        version = market_view.price_versions.get(state.symbol, 0)
        mark = market_view.last_price(state.symbol)
        if mark is None or _marked_versions.get(key) == version or state.position.quantity == 0:
            continue
        _marked_versions[key] = version
        updates.append(state.marked(mark).event(None))
    return updates
