"""Risk agent: every order request is validated (rounded to venue precision) or rejected with a reason.

It also follows fills and downstream rejections of its accounts (co-partitioned by account id), so open
orders, positions and exposure are known when the next request arrives.
"""

from __future__ import annotations

from datetime import timedelta

from agents.app import app, faust_topic, state_table
from agents.consumer import consume, publish
from agents.context import catalog
from agents.market_view import market_view
from agents.settings import get_agent_settings, get_trading_config
from schemas import Event, OrderExecuted, OrderRejected, OrderRequested
from topics import Topics
from trading.ids import derived_id
from trading.risk import AccountRiskState, Rejection, check_order

accounts = state_table("risk-accounts", AccountRiskState)


async def _on_event(event: Event) -> None:
    assert isinstance(event, OrderRequested | OrderExecuted | OrderRejected)
    state = accounts.get(event.account_id) or AccountRiskState()
    if event.event_id in state.applied:
        return  # a redelivery after a restart: already applied (and its outputs already published)
    outputs: list[Event] = []
    if isinstance(event, OrderRequested):
        limits = get_trading_config().limits_for(event.account_id)
        if (at := event.market_time) is not None:  # the price it was decided on is bound to arrive
            await market_view.wait_for(
                lambda: market_view.has_price(event.symbol, at), get_agent_settings().market_settle_seconds
            )
        prices = market_view.prices_at(event.market_time)
        decision = check_order(event, state, catalog(), prices, limits)
        if isinstance(decision, Rejection):
            outputs.append(
                OrderRejected.for_order(
                    event, decision.reason, decision.detail, event_id=derived_id(event.event_id, "rejected")
                )
            )
            state = state.refuse(event)
        else:
            outputs.append(decision)
            price = decision.limit_price or prices.get(event.symbol)
            assert price is not None  # check_order refuses orders without a price
            state = state.accept(decision, price, timedelta(seconds=float(limits.rate_window_seconds)))
    elif isinstance(event, OrderExecuted):
        state = state.apply_fill(event)
    else:
        state = state.close_order(event)
    await publish(outputs)
    await accounts.put(
        event.account_id, state.model_copy(update={"applied": state.applied.add(event.event_id)})
    )


@app.agent(faust_topic(Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED, Topics.ORDERS_REJECTED), name="risk")
async def check_risk(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "risk",
        {
            Topics.ORDERS_REQUESTED: (OrderRequested,),
            Topics.ORDERS_EXECUTED: (OrderExecuted,),
            Topics.ORDERS_REJECTED: (OrderRejected,),
        },
        _on_event,
        before_first=market_view.wait_caught_up,
    )
