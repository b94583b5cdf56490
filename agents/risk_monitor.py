"""Risk monitor agent: watches every account's live positions for exposure and drawdown breaches."""

from __future__ import annotations

from agents.app import app, faust_topic, state_table
from agents.consumer import consume, publish
from agents.settings import get_trading_config
from schemas import Event, PositionUpdated
from topics import Topics
from trading.monitor import AccountMonitorState, observe

monitored = state_table("risk-monitor-accounts", AccountMonitorState)


async def _on_position(event: Event) -> None:
    assert isinstance(event, PositionUpdated)
    state = monitored.get(event.account_id) or AccountMonitorState()
    state, alerts = observe(state, event, get_trading_config().monitor)
    await publish(alerts)
    await monitored.put(event.account_id, state)


@app.agent(faust_topic(Topics.POSITIONS), name="risk_monitor")
async def monitor_risk(stream: object) -> None:
    await consume(stream, "risk_monitor", {Topics.POSITIONS: (PositionUpdated,)}, _on_position)  # type: ignore[arg-type]
