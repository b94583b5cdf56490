"""Which aggregate (stream) each event belongs to: the unit of ordering and optimistic concurrency.

| events | aggregate_id |
|---|---|
| order.* (cancel and amend requests and their rejections too) and exchange.routed | the order id (`ord-42`) |
| position.updated | `account_id:symbol` (`acct-1:BTC/USDT`) |
| portfolio.rebalanced | `portfolio/<portfolio_id>` |
| risk.breached | `risk/<account_id>` |
| alert.triggered | `alerts/<source>` |
| market data (ticks, prices, books) | `<event_type>/<venue>/<symbol>` |
| paper.submit_order, paper.cancel_order, paper.amend_order (commands), paper.risk_outcome | the order id |
| paper.orders_through, paper.outcomes_through, orders.decided_through, prices_through | `paper/<symbol>` |
| control.* (runtime controls: kill switches, strategy halts, limits) | `control/<scope>` (`control/global`) |

The ids never collide: identifiers cannot contain `/`, symbols always do, so an order id has no `/`,
a position id has a `:` before its first `/`, and every other kind has a `/` before any `:`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas import (
    AlertTriggered,
    AmendPaperOrder,
    CancelPaperOrder,
    Event,
    ExchangeRouted,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderCreated,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrdersDecidedThrough,
    OrderTriggered,
    OrderValidated,
    PaperOrdersThrough,
    PaperOutcomesThrough,
    PaperRiskOutcome,
    PaperRiskOutcomesThrough,
    PortfolioRebalanced,
    PositionUpdated,
    PricesThrough,
    PriceUpdated,
    QuoteTick,
    RiskBreached,
    StrategyOrderUpdate,
    SubmitPaperOrder,
    TradeTick,
)
from schemas.controls import CONTROL_COMMANDS

ORDER_EVENTS: tuple[type[Event], ...] = (
    OrderRequested,
    OrderValidated,
    OrderRejected,
    ExchangeRouted,
    OrderCreated,
    OrderExecuted,
    OrderAccepted,
    OrderTriggered,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
)
# Events that name an order by id alone (no symbol or side: the order may be unknown): the order's stream
# too, but no row of `trading_events`.
ORDER_CHANGE_EVENTS: tuple[type[Event], ...] = (
    OrderCancelRequested,
    OrderAmendRequested,
    OrderCancelRejected,
    OrderAmendRejected,
)
MARKET_EVENTS: tuple[type[Event], ...] = (TradeTick, QuoteTick, PriceUpdated, OrderBookUpdated)
# Commands to the paper venue about one order: the order's stream, no row of `trading_events` (what the
# venue did with them is in the lifecycle events it answers with).
PAPER_COMMANDS: tuple[type[Event], ...] = (SubmitPaperOrder, CancelPaperOrder, AmendPaperOrder)


def _order(event: Any) -> str:
    return str(event.order_id)


def position_aggregate_id(account_id: str, symbol: str) -> str:
    return f"{account_id}:{symbol}"


def _position(event: Any) -> str:
    return position_aggregate_id(event.account_id, event.symbol)


def _watermark(event: Any) -> str:
    return f"paper/{event.symbol}"


def _market(event: Any) -> str:
    return f"{event.event_type}/{event.venue}/{event.symbol}"


_AGGREGATE_OF: dict[type[Event], Callable[[Any], str]] = {
    **dict.fromkeys(ORDER_EVENTS, _order),
    **dict.fromkeys(ORDER_CHANGE_EVENTS, _order),
    **dict.fromkeys(MARKET_EVENTS, _market),
    **dict.fromkeys(PAPER_COMMANDS, _order),
    **dict.fromkeys(
        (
            PaperOrdersThrough,
            PaperOutcomesThrough,
            PaperRiskOutcomesThrough,
            OrdersDecidedThrough,
            PricesThrough,
        ),
        _watermark,
    ),
    StrategyOrderUpdate: _order,  # a copy of one of the order's events, for its strategy
    PaperRiskOutcome: _order,  # another: an engine outcome as risk counts it
    PositionUpdated: _position,
    PortfolioRebalanced: lambda event: f"portfolio/{event.portfolio_id}",
    RiskBreached: lambda event: f"risk/{event.account_id}",
    AlertTriggered: lambda event: f"alerts/{event.source}",
    **dict.fromkeys(CONTROL_COMMANDS, lambda event: f"control/{event.scope}"),
}


def aggregate_id_of(event: Event) -> str:
    try:
        return _AGGREGATE_OF[type(event)](event)
    except KeyError:
        raise LookupError(f"no aggregate defined for {event.event_type}") from None
