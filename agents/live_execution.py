"""Live execution stage: sends each routed order with a leg on a live venue to its venues (ccxt).

The order stage executes orders routed to paper venues itself; this stage takes the rest from
orders.routed, so a slow exchange holds up only the accounts it trades for: a batch's orders run
concurrently across accounts, one after another within an account. Client order ids are
`<order id>.<leg>`: every retry of a leg reuses its id, so a venue never fills a retried submission twice,
and a routed order applied before (its account's offsets) is not sent again. Only a worker whose
configuration names live venues runs it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from pydantic import BaseModel, ConfigDict

from agents.context import venue_health, venues
from agents.orders import venue_order
from agents.settings import get_trading_config
from agents.stage import Batch, Item, Stage, register
from schemas import ExchangeRouted
from topics import StateChangelogs, Topics
from trading.execution import LegReport, execution_events
from venues.base import VenueError
from venues.paper import PaperVenue


class LiveAccount(BaseModel):
    """What this stage keeps per account: only how many routed orders it sent (its offsets do the rest)."""

    model_config = ConfigDict(frozen=True)

    sent: int = 0


_reports: dict[str, list[LegReport]] = {}  # routed event id -> its legs' reports, for this batch


async def execute_leg(routed: ExchangeRouted, index: int) -> LegReport:
    leg = routed.legs[index]
    health = venue_health[leg.venue]
    venue = venues().get(leg.venue)
    if venue is None:
        return LegReport(leg.venue, leg.quantity, None, refusal="venue not configured")
    if not health.breaker.allow(time.monotonic()):
        return LegReport(leg.venue, leg.quantity, None, refusal="circuit open")
    started = time.perf_counter()
    try:
        report = await venue.submit(venue_order(routed, index))
    except VenueError as exc:
        health.breaker.record_failure(time.monotonic())
        return LegReport(leg.venue, leg.quantity, None, refusal=str(exc)[:300])
    health.observe_latency(time.perf_counter() - started)
    health.breaker.record_success()
    return report


def _is_live(routed: ExchangeRouted) -> bool:
    known = venues()
    return not all(isinstance(known.get(leg.venue), PaperVenue) for leg in routed.legs)


async def _execute(items: list[Item], batch: Batch[LiveAccount]) -> None:
    """Send the batch's live orders, accounts concurrently, each account's orders in turn."""
    by_account: dict[str, list[ExchangeRouted]] = defaultdict(list)
    for item in items:
        routed = item.event
        assert isinstance(routed, ExchangeRouted)
        if _is_live(routed) and not batch.applied(item, routed.account_id):
            by_account[routed.account_id].append(routed)

    async def run(orders: list[ExchangeRouted]) -> None:
        for routed in orders:
            _reports[str(routed.event_id)] = [await execute_leg(routed, i) for i in range(len(routed.legs))]

    _reports.clear()
    await asyncio.gather(*(run(orders) for orders in by_account.values()))


def _on_routed(item: Item, batch: Batch[LiveAccount]) -> None:
    routed = item.event
    assert isinstance(routed, ExchangeRouted)
    reports = _reports.pop(str(routed.event_id), None)
    if reports is None:
        return  # paper legs only (executed by the order stage), or applied before
    batch.publish(execution_events(routed, reports))
    state = batch.get(item, routed.account_id) or LiveAccount()
    batch.put(item, routed.account_id, state.model_copy(update={"sent": state.sent + 1}))


stage: Stage[LiveAccount] | None = None
if get_trading_config().live_venues:
    stage = register(
        Stage(
            "live_execution",
            {Topics.ORDERS_ROUTED: (ExchangeRouted,)},
            _on_routed,
            state=LiveAccount,
            changelog=StateChangelogs.LIVE_EXECUTION,
            prepare=_execute,
        )
    )
