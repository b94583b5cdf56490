"""Router agent: picks the venue(s) for each validated order and records every candidate's score."""

from __future__ import annotations

from agents.app import app, faust_topic
from agents.consumer import consume, publish
from agents.context import catalog, venue_health, venues
from agents.market_view import market_view
from agents.settings import get_agent_settings, get_trading_config
from schemas import Event, ExchangeRouted, OrderRejected, OrderValidated, RejectReason
from topics import Topics
from trading.circuit import CircuitState
from trading.ids import derived_id
from trading.risk import order_market_time
from trading.routing import VenueCandidate, route


def candidates_for(order: OrderValidated) -> list[VenueCandidate]:
    venues()  # configures each venue's health (a paper venue's simulated latency) on first use
    return [
        VenueCandidate(
            rules=rules,
            top=market_view.book_at(rules.venue, order.symbol, order_market_time(order)),
            latency_ms=venue_health[rules.venue].expected_latency_ms,
            healthy=venue_health[rules.venue].state() is not CircuitState.OPEN,
        )
        for rules in catalog().listings(order.symbol)
        if rules.active
    ]


def routing_event(order: OrderValidated) -> Event:
    decision = route(order, candidates_for(order), get_trading_config().routing)
    if decision is None:
        return OrderRejected.for_order(
            order,
            RejectReason.VENUE_UNAVAILABLE,
            f"no healthy venue with a book for {order.symbol}",
            event_id=derived_id(order.event_id, "rejected"),
        )
    return order.caused(
        ExchangeRouted,
        event_id=derived_id(order.event_id, "routed"),
        **order.order_terms(),
        requested_at=order.requested_at,
        legs=decision.legs,
        candidates=decision.scores,
    )


async def settle_books(order: OrderValidated) -> None:
    """Until the view holds the books in force at the order's market time: of its requested venue, else of
    every venue with a book for the symbol (and at least one)."""
    at = order.market_time
    if at is None:
        return  # placed by hand: routed on the books the view holds
    listed = [rules.venue for rules in catalog().listings(order.symbol) if rules.active]

    def settled() -> bool:
        quoting = [order.venue] if order.venue else [v for v in listed if market_view.book(v, order.symbol)]
        return bool(quoting) and all(market_view.has_book_since(v, order.symbol, at) for v in quoting)

    await market_view.wait_for(settled, get_agent_settings().market_settle_seconds)


async def _on_validated(event: Event) -> None:
    assert isinstance(event, OrderValidated)
    await settle_books(event)
    # Stateless: a redelivered order routes to the same event id, which execution drops.
    await publish([routing_event(event)])


@app.agent(faust_topic(Topics.ORDERS_VALIDATED), name="router")
async def route_orders(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "router",
        {Topics.ORDERS_VALIDATED: (OrderValidated,)},
        _on_validated,
        before_first=market_view.wait_caught_up,
    )
