"""The pre-trade check a workflow can run before it sends an order: the static rules of `check_order`.

The order stage's risk check stays the authority (it alone knows the account's positions, open orders and
order rate); this check refuses early, without a round trip through Kafka, what no account state could
make valid: a halted account, an unlisted or inactive market, a size or price no venue accepts, an order
above the notional limit. Without a reference price (a market order placed with no price at hand) only the
rules that need none are checked.

`engine` is the order stage's setting (`ZVT_PAPER_ENGINE`): with it, stops, post-only and good-till
orders pass here as they pass there; without it they are refused `unsupported_order` before they reach
Kafka. Reduce-only is capped to the position by the order stage alone (an empty account has none).
"""

from __future__ import annotations

from decimal import Decimal

from schemas import OrderRequested, OrderValidated, RejectReason
from trading.config import RiskLimits
from trading.ids import derived_id
from trading.markets import MarketCatalog
from trading.risk import AccountRiskState, Rejection, check_order, eligible_venues, not_executable_yet


def pre_trade_check(
    request: OrderRequested,
    catalog: MarketCatalog,
    limits: RiskLimits,
    reference_price: Decimal | None,
    *,
    engine: bool = False,
) -> OrderValidated | Rejection:
    """`check_order` against an empty account at `reference_price` (the limit price when there is one),
    with the order stage's `engine` setting."""
    # Its own id: the agent's validation of the same request derives `validated`, and that event is the
    # one in Kafka; this one only lives in the workflow's step output.
    event_id = derived_id(request.event_id, "prechecked")
    reference = request.limit_price or reference_price
    if reference is not None:
        prices = {request.symbol: reference}
        decision = check_order(
            request, AccountRiskState(), catalog, prices, limits, engine=engine, account_known=False
        )
        if isinstance(decision, Rejection):
            return decision
        return decision.model_copy(update={"event_id": event_id})
    if limits.kill_switch:
        return Rejection(RejectReason.KILL_SWITCH, f"kill switch on for {request.account_id}")
    unsupported = not_executable_yet(request, engine)
    if unsupported is not None:
        return unsupported
    _, refusal = eligible_venues(catalog, request.symbol, request.venue, request.quantity, None)
    if refusal is not None:
        return refusal
    return request.caused(OrderValidated, event_id=event_id, **request.order_terms())
