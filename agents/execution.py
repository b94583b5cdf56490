"""Execution agent: sends each routed leg to its venue (paper or live) and reports creations and fills.

Client order ids are `<order id>.<leg>`: every retry of a leg reuses its id, so a live venue never fills a
retried submission twice; a redelivered routed order is dropped by its event id.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from agents.app import app, faust_topic, state_table
from agents.consumer import consume, publish
from agents.context import venue_health, venues
from agents.market_view import market_view
from agents.settings import get_agent_settings
from schemas import Event, ExchangeRouted
from topics import Topics
from trading.execution import LegReport, execution_events
from trading.ids import RecentIds
from trading.risk import order_market_time
from venues.base import VenueError, VenueOrder
from venues.paper import PaperVenue


class ExecutedOrders(BaseModel):
    model_config = ConfigDict(frozen=True)

    applied: RecentIds = RecentIds()


executed = state_table("execution-accounts", ExecutedOrders)


async def settle_paper_book(venue: PaperVenue, routed: ExchangeRouted) -> None:
    """Until the view holds the book the order meets on arrival (its market time plus the paper latency),
    so it fills the same way however late it is processed. An order placed by hand (no market time) meets
    the book the view holds as of its request."""
    if routed.market_time is not None:
        arrival = venue.arrival_time(routed.market_time)
        await market_view.wait_for(
            lambda: market_view.has_book_since(venue.name, routed.symbol, arrival),
            get_agent_settings().market_settle_seconds,
        )


async def execute_leg(routed: ExchangeRouted, index: int) -> LegReport:
    leg = routed.legs[index]
    health = venue_health[leg.venue]
    venue = venues().get(leg.venue)
    if venue is None:
        return LegReport(leg.venue, leg.quantity, None, refusal="venue not configured")
    if isinstance(venue, PaperVenue):
        await settle_paper_book(venue, routed)
    if not health.breaker.allow(time.monotonic()):
        return LegReport(leg.venue, leg.quantity, None, refusal="circuit open")
    order = VenueOrder(
        client_order_id=f"{routed.order_id}.{index}",
        symbol=routed.symbol,
        side=routed.side,
        order_type=routed.order_type,
        quantity=leg.quantity,
        limit_price=routed.limit_price,
        time_in_force=routed.time_in_force,
        market_time=order_market_time(routed),
    )
    started = time.perf_counter()
    try:
        report = await venue.submit(order)
    except VenueError as exc:
        health.breaker.record_failure(time.monotonic())
        return LegReport(leg.venue, leg.quantity, None, refusal=str(exc)[:300])
    health.observe_latency(time.perf_counter() - started)
    health.breaker.record_success()
    return report


async def _on_routed(event: Event) -> None:
    assert isinstance(event, ExchangeRouted)
    state = executed.get(event.account_id) or ExecutedOrders()
    if event.event_id in state.applied:
        return
    reports = [await execute_leg(event, index) for index in range(len(event.legs))]
    await publish(execution_events(event, reports))
    await executed.put(
        event.account_id, state.model_copy(update={"applied": state.applied.add(event.event_id)})
    )


@app.agent(faust_topic(Topics.ORDERS_ROUTED), name="execution")
async def execute_orders(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "execution",
        {Topics.ORDERS_ROUTED: (ExchangeRouted,)},
        _on_routed,
        before_first=market_view.wait_caught_up,
    )
