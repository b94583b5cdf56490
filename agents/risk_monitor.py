"""Risk monitor stage: watches every account's live positions for exposure and drawdown breaches."""

from __future__ import annotations

from agents.settings import get_trading_config
from agents.stage import Batch, Item, Stage, register
from schemas import PositionUpdated
from topics import StateChangelogs, Topics
from trading.monitor import AccountMonitorState, observe


def _on_position(item: Item, batch: Batch[AccountMonitorState]) -> None:
    update = item.event
    assert isinstance(update, PositionUpdated)
    if batch.applied(item, update.account_id):
        return
    state = batch.get(item, update.account_id) or AccountMonitorState()
    state, alerts = observe(state, update, get_trading_config().monitor)
    batch.publish(alerts)
    batch.put(item, update.account_id, state)


stage: Stage[AccountMonitorState] = register(
    Stage(
        "risk_monitor",
        {Topics.POSITIONS: (PositionUpdated,)},
        _on_position,
        state=AccountMonitorState,
        changelog=StateChangelogs.RISK_MONITOR,
    )
)
