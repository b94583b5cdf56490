"""`zvt cancel`, `zvt amend` and `zvt orders`: asking for a change to an order, and the open orders, from
the event store.

A request is published to `orders.changes.requested` (the `publisher` principal may write it) keyed by
account like every order event, with the order's correlation id and, as its cause, the order's last
lifecycle event in the store: `zvt trace <order id>` shows it, and its answer, in the order's chain. A cancel
by hand has no market time of its own (`market_time` left empty, as an order placed by hand): the order
stage and the paper matching engine then take the request's timestamp, the wall clock, as for an order by
hand; `--at order` gives it the order's last market time instead (a replay of recorded data, whose market
clock is not now). The answer is the order's `order.canceled` / `order.amended`, or the
`order.cancel_rejected` / `order.amend_rejected` with its reason, read back from the event store (so
`zvt sink` must run): caused by the request (answered by the order stage) or by the command the order
stage forwarded to the paper venue stage (`derived_id(request, "paper")`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from eventstore.store import StoredEvent, read_aggregate
from schemas import (
    Event,
    OrderAmended,
    OrderAmendRejected,
    OrderCanceled,
    OrderCancelRejected,
)
from trading.ids import derived_id

ANSWERS = (OrderCanceled, OrderAmended, OrderCancelRejected, OrderAmendRejected)


def answer_of(stored: Sequence[StoredEvent], request: Event) -> Event | None:
    """Pure: the answer to `request` among an order's stored events, if it is there yet."""
    causes = {request.event_id, derived_id(request.event_id, "paper")}
    for row in stored:
        if row.causation_id in causes and row.event_type in {kind.EVENT_TYPE for kind in ANSWERS}:
            return row.event()
    return None


async def wait_for_answer(
    connection: asyncpg.Connection, request: Event, order_id: str, within: float
) -> Event | None:
    """Poll the order's stream in the event store until the request's answer is stored, or `within` s."""
    try:
        async with asyncio.timeout(within):
            while True:
                answer = answer_of(await read_aggregate(connection, order_id), request)
                if answer is not None:
                    return answer
                await asyncio.sleep(0.25)
    except TimeoutError:
        return None
