"""The rebalance workflow's input, step outputs and pure decisions (no Hatchet, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hatchet_workflows.place_order.models import (
    OrderOutcome,
    PlaceOrderInput,
    PlaceOrderResult,
    build_request,
    executed,
    is_terminal,
    settle,
)
from schemas import Event, OrderRequested, PortfolioRebalanced, RebalanceStatus
from schemas.primitives import Identifier, NonNegativeMoney, Price, Symbol
from trading.ids import derived_id
from trading.rebalance import PlannedOrder, rebalance_orders, reversal

# uuid5 namespace of rebalance runs: a run's correlation id (and its event ids) follow from its run id.
REBALANCE_NAMESPACE = UUID("0f3c2a4e-7d61-4b8a-9e52-3b7f9c1d2e80")


class FailurePolicy(StrEnum):
    FINISH = "finish"  # keep what filled, record the failed legs: status partial
    COMPENSATE = "compensate"  # undo what filled: status compensated (or failed if an undo failed too)


class RebalanceInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    portfolio_id: Identifier
    account_id: Identifier
    target_weights: dict[Symbol, Decimal]
    prices: dict[Symbol, Price]  # the prices the plan is made at
    positions: dict[Symbol, Decimal] = {}
    cash: NonNegativeMoney = Decimal(0)
    steps: dict[Symbol, Decimal] = {}
    min_notional: NonNegativeMoney = Decimal(0)
    on_failure: FailurePolicy = FailurePolicy.FINISH
    causation_id: UUID | None = None  # what asked for it, e.g. a risk.breached event
    # The legs' order ids follow from this key when given (the same rebalance of the same data places the
    # same orders), else from the run id.
    rebalance_id: Identifier | None = None
    market_time: datetime | None = None  # the market clock the legs are decided on (see PlaceOrderInput)


class Leg(BaseModel):
    order_id: Identifier
    order: PlannedOrder


class RebalancePlan(BaseModel):
    correlation_id: UUID
    legs: list[Leg]
    # Where the answer stream ended before any leg was sent (taken by the step before the one that sends):
    # a retried place_orders reads the legs' answers from here again.
    since: dict[str, str] = {}


class LegOutcome(BaseModel):
    leg: Leg
    result: PlaceOrderResult | None = None
    error: str | None = None  # never sent: the static pre-trade rules refused it

    @property
    def failed(self) -> bool:
        return self.result is None or self.result.outcome is OrderOutcome.REJECTED

    @property
    def why(self) -> str:
        return self.error or (self.result.reason if self.result else None) or "no result"


class Placed(BaseModel):
    outcomes: list[LegOutcome]
    since: dict[str, str] = {}  # the answer stream's end before any undo leg is sent (for `compensate`)


class RebalanceResult(BaseModel):
    event: PortfolioRebalanced
    outcomes: list[LegOutcome]
    compensations: list[LegOutcome] = Field(default_factory=list)


def correlation_for(run_id: str) -> UUID:
    return derived_id(REBALANCE_NAMESPACE, run_id)


def plan(rebalance: RebalanceInput, run_id: str) -> RebalancePlan:
    """The legs, each with an order id fixed by the run: a retried step re-sends the same ids."""
    orders = rebalance_orders(
        rebalance.target_weights,
        rebalance.positions,
        rebalance.prices,
        rebalance.cash,
        steps=rebalance.steps,
        min_notional=rebalance.min_notional,
    )
    key = rebalance.rebalance_id or run_id
    legs = [Leg(order_id=f"rb-{key}-{index}", order=order) for index, order in enumerate(orders)]
    return RebalancePlan(correlation_id=correlation_for(run_id), legs=legs)


def child_input(rebalance: RebalanceInput, plan: RebalancePlan, leg: Leg) -> PlaceOrderInput:
    return PlaceOrderInput(
        account_id=rebalance.account_id,
        symbol=leg.order.symbol,
        side=leg.order.side,
        quantity=leg.order.quantity,
        order_id=leg.order_id,
        reference_price=leg.order.price,
        correlation_id=plan.correlation_id,
        causation_id=rebalance.causation_id,
        strategy_id=rebalance.portfolio_id,
        market_time=rebalance.market_time,
    )


def leg_request(rebalance: RebalanceInput, plan: RebalancePlan, leg: Leg, run_id: str) -> LegRequest:
    """The leg as the order a place_order run of it would send (same id rules: a retry re-sends it)."""
    order = child_input(rebalance, plan, leg)
    return LegRequest(leg=leg, order=order, request=build_request(order, run_id))


@dataclass(frozen=True)
class LegRequest:
    leg: Leg
    order: PlaceOrderInput
    request: OrderRequested

    @property
    def key(self) -> tuple[str, str]:
        """What a stream entry of this leg's order carries: its order id and correlation id."""
        return self.request.order_id, str(self.request.correlation_id)


def _of_order(order_id: str, events: Sequence[Event]) -> list[Event]:
    return [e for e in events if getattr(e, "order_id", None) == order_id]


def answered(sent: Sequence[LegRequest], events: Sequence[Event]) -> bool:
    """Every sent leg has its end and the fills before it (as place_order waits for its order's)."""
    return all(is_terminal(_of_order(item.request.order_id, events)) for item in sent)


def leg_outcome(item: LegRequest, events: Sequence[Event]) -> LegOutcome:
    """The leg decided as place_order decides its order: fills applied with `settle`, or the rejection."""
    answer = executed(_of_order(item.request.order_id, events))
    return LegOutcome(leg=item.leg, result=settle(item.order, item.request, answer))


def failure_summary(error: BaseException) -> str:
    """The line that says why a step failed (the engine's message wraps it in a traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [repr(error)]
    cause = next((line for line in lines if re.match(r"^[\w.]+(Exception|Error): ", line)), lines[0])
    return cause[:300]


def undo_legs(outcomes: list[LegOutcome]) -> list[Leg]:
    """One reversing leg per leg that filled anything."""
    legs = []
    for outcome in outcomes:
        result = outcome.result
        if result is None or result.filled_quantity == 0:
            continue
        order = outcome.leg.order
        price = result.average_price or order.price
        legs.append(
            Leg(
                order_id=f"{outcome.leg.order_id}-undo",
                order=reversal(order.symbol, order.side, result.filled_quantity, price),
            )
        )
    return legs


def final_event(
    rebalance: RebalanceInput,
    plan: RebalancePlan,
    outcomes: list[LegOutcome],
    compensations: list[LegOutcome],
) -> PortfolioRebalanced:
    """How the rebalance ended, as one event whose id follows from the run (re-sent, never doubled)."""
    failed = [o for o in outcomes if o.failed]
    undo_failed = [o for o in compensations if o.failed]
    if not failed:
        status = RebalanceStatus.COMPLETED
    elif len(failed) == len(outcomes) or undo_failed:
        status = RebalanceStatus.FAILED
    elif rebalance.on_failure is FailurePolicy.COMPENSATE:
        status = RebalanceStatus.COMPENSATED
    else:
        status = RebalanceStatus.PARTIAL
    detail = "; ".join(f"{o.leg.order_id} {o.leg.order.symbol}: {o.why}" for o in (*failed, *undo_failed))
    return rebalanced_event(
        rebalance,
        plan.correlation_id,
        status,
        order_ids=[o.leg.order_id for o in (*outcomes, *compensations)],
        failed_order_ids=[o.leg.order_id for o in (*failed, *undo_failed)],
        detail=detail,
    )


def rebalanced_event(
    rebalance: RebalanceInput,
    correlation_id: UUID,
    status: RebalanceStatus,
    *,
    order_ids: list[str],
    failed_order_ids: list[str],
    detail: str,
) -> PortfolioRebalanced:
    return PortfolioRebalanced(
        event_id=derived_id(correlation_id, "rebalanced"),
        correlation_id=correlation_id,
        causation_id=rebalance.causation_id,
        portfolio_id=rebalance.portfolio_id,
        account_id=rebalance.account_id,
        target_weights=rebalance.target_weights,
        order_ids=tuple(order_ids),
        failed_order_ids=tuple(failed_order_ids),
        status=status,
        detail=detail[:2000],
    )


def pairs(items: list[str], what: str) -> dict[str, str]:
    """`SYMBOL=VALUE` options as a dict; a malformed one raises ValueError naming it."""
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} {item!r}: expected SYMBOL=VALUE")
        found[key.strip()] = value.strip()
    return found
