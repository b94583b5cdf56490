"""portfolio.rebalance on the real engine and agents: 6 legs, one of which fails for good (a symbol no venue
lists); the rebalance ends in one recorded outcome that agrees with what the agents did."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from schemas import OrderExecuted, OrderRequested, PortfolioRebalanced, PositionUpdated, RebalanceStatus
from tests.integration.pipeline.support import wait_until

from .conftest import Flow, run_command, serving, workflow_worker

pytestmark = pytest.mark.integration

D = Decimal
PRICES = {"BTC/USDT": "60001", "ETH/USDT": "3000", "LTC/USDT": "70.1", "XRP/USDT": "0.5001",
          "ADA/USDT": "0.3501", "FOO/USDT": "1"}  # fmt: skip
STEPS = {"BTC/USDT": "0.001", "ETH/USDT": "0.01", "LTC/USDT": "0.01", "XRP/USDT": "1", "ADA/USDT": "1"}
UNLISTED = "FOO/USDT"


async def rebalance(flow: Flow, account: str, weights: dict[str, str], on_failure: str) -> Any:
    from hatchet_workflows.rebalance.models import RebalanceInput, RebalanceResult
    from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow

    name = f"wf-rb-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, name):
        await serving(rebalance_workflow, name)
        raw = await rebalance_workflow.aio_run(
            RebalanceInput(
                portfolio_id=f"pf-{account}",
                account_id=account,
                target_weights={symbol: D(weight) for symbol, weight in weights.items()},
                prices={symbol: D(PRICES[symbol]) for symbol in weights},
                cash=D("100000"),
                steps={symbol: D(step) for symbol, step in STEPS.items()},
                on_failure=on_failure,
            )
        )
    return RebalanceResult.model_validate(raw[finish.name])


def recorded(flow: Flow, account: str) -> list[PortfolioRebalanced]:
    return [e for e in flow.output.of_type(PortfolioRebalanced) if e.account_id == account]


def fills_of(flow: Flow, order_id: str) -> list[OrderExecuted]:
    return [e for e in flow.output.of_type(OrderExecuted) if e.order_id == order_id]


async def test_a_leg_failing_for_good_leaves_a_partial_rebalance_on_record(flow: Flow) -> None:
    weights = {"BTC/USDT": "0.2", "ETH/USDT": "0.2", "LTC/USDT": "0.1", "XRP/USDT": "0.1",
               "ADA/USDT": "0.1", UNLISTED: "0.1"}  # fmt: skip
    result = await rebalance(flow, "acct-rb", weights, "finish")

    by_symbol = {o.leg.order.symbol: o for o in result.outcomes}
    assert set(by_symbol) == set(weights)
    failed = by_symbol.pop(UNLISTED)
    assert failed.failed
    assert "unknown_symbol" in failed.why
    assert not any(o.failed for o in by_symbol.values())
    assert {s: o.leg.order.quantity for s, o in by_symbol.items()} == {
        "BTC/USDT": D("0.333"), "ETH/USDT": D("6.66"), "LTC/USDT": D("142.65"),
        "XRP/USDT": D("19996"), "ADA/USDT": D("28563"),
    }  # fmt: skip
    event = result.event
    assert event.status is RebalanceStatus.PARTIAL
    assert event.failed_order_ids == (failed.leg.order_id,)
    assert set(event.order_ids) == {o.leg.order_id for o in result.outcomes}

    # The record reached Kafka (through the bridge), once; the agents filled each good leg exactly once,
    # under the rebalance's correlation id, and never saw the failed one.
    await wait_until(lambda: len(recorded(flow, "acct-rb")) == 1, 30, lambda: "no portfolio.rebalanced")
    assert recorded(flow, "acct-rb")[0] == event
    for outcome in by_symbol.values():
        fills = fills_of(flow, outcome.leg.order_id)
        assert [f.fill_id for f in fills] == outcome.result.fill_ids
        assert sum(f.fill_quantity for f in fills) == outcome.leg.order.quantity
        assert {f.correlation_id for f in fills} == {event.correlation_id}
    assert not [e for e in flow.output.of_type(OrderRequested) if e.order_id == failed.leg.order_id]


async def test_compensation_undoes_every_filled_leg(flow: Flow) -> None:
    weights = {"BTC/USDT": "0.2", "ETH/USDT": "0.2", "XRP/USDT": "0.1", UNLISTED: "0.1"}
    result = await rebalance(flow, "acct-undo", weights, "compensate")

    event = result.event
    assert event.status is RebalanceStatus.COMPENSATED, event.detail
    assert len(result.compensations) == 3
    assert not any(o.failed for o in result.compensations)

    def last_positions() -> dict[str, Decimal]:
        updates = [e for e in flow.output.of_type(PositionUpdated) if e.account_id == "acct-undo"]
        latest: dict[str, PositionUpdated] = {}
        for e in sorted((e for e in updates if e.last_fill_id), key=lambda e: e.timestamp):
            latest[e.symbol] = e
        return {symbol: e.quantity for symbol, e in latest.items()}

    flat = {"BTC/USDT": D(0), "ETH/USDT": D(0), "XRP/USDT": D(0)}
    await wait_until(lambda: last_positions() == flat, 30, lambda: f"positions: {last_positions()}")
    await wait_until(lambda: len(recorded(flow, "acct-undo")) == 1, 30, lambda: "no portfolio.rebalanced")
    assert recorded(flow, "acct-undo")[0].status is RebalanceStatus.COMPENSATED


async def test_the_command_line_rebalances_and_prints_each_leg(flow: Flow) -> None:
    from hatchet_workflows.rebalance.workflow import rebalance_workflow

    args = ["--portfolio", "pf-cli", "--account", "acct-rbcli", "--cash", "10000",
            "--target", "ETH/USDT=0.3", "--target", "LTC/USDT=0.2", "--position", "LTC/USDT=10",
            "--price", "ETH/USDT=3000", "--price", "LTC/USDT=70.1"]  # fmt: skip
    out = await run_command(flow, rebalance_workflow, "workflows", "run", "rebalance", *args)
    assert "completed" in out
    # value 10,000 + 701 = 10,701: ETH 0.3 * 10,701 / 3,000 = 1.0701; LTC 0.2 * 10,701 / 70.1 - 10 = 20.53...
    assert "1.0701" in out
    assert "20.53067047" in out
