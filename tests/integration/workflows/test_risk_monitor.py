"""risk.monitor_portfolio on the real engine: limits crossed by one account become risk.breached and
alert.triggered in Kafka (through the bridge), once each; an account within its limits raises nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from schemas import AlertTriggered, OrderExecuted, PortfolioRebalanced, RebalanceStatus, RiskBreached
from tests.integration.pipeline.support import wait_until

from .conftest import CONFIG, Flow, serving, workflow_worker

pytestmark = pytest.mark.integration

D = Decimal


async def test_crossed_limits_raise_breaches_and_alerts(flow: Flow) -> None:
    from hatchet_workflows.risk_monitor.models import AccountSnapshot, MonitorInput, MonitorResult
    from hatchet_workflows.risk_monitor.workflow import assess, monitor_workflow

    watch = MonitorInput(
        accounts=[
            AccountSnapshot(account_id="acct-mon", positions={"BTC/USDT": D("20")}),
            AccountSnapshot(account_id="acct-calm", positions={"BTC/USDT": D("1"), "ETH/USDT": D("-2")}),
        ],
        price_history={
            "BTC/USDT": [D("60000"), D("63000"), D("61000"), D("60000")],
            "ETH/USDT": [D("3100"), D("3000"), D("3000"), D("3000")],
        },
    )
    name = f"wf-mon-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, name):
        await serving(monitor_workflow, name)
        result = MonitorResult.model_validate((await monitor_workflow.aio_run(watch))[assess.name])

    figures = {a.account_id: a.figures for a in result.accounts}
    hot = figures["acct-mon"]
    assert hot is not None
    assert (hot.gross_exposure, hot.drawdown) == (D("1200000"), D("60000"))
    # worst scenario: 63000 -> 61000 applied to 1,200,000
    assert hot.var == -(D("1200000") * (D("61000") / D("63000") - 1))

    def breaches() -> list[RiskBreached]:
        return [e for e in flow.output.of_type(RiskBreached) if e.correlation_id == result.correlation_id]

    def alerts() -> list[AlertTriggered]:
        return [e for e in flow.output.of_type(AlertTriggered) if e.correlation_id == result.correlation_id]

    await wait_until(lambda: len(breaches()) == 3 and len(alerts()) == 3, 30, lambda: f"{breaches()}")
    assert {(b.account_id, b.rule) for b in breaches()} == {
        ("acct-mon", "gross_exposure"),
        ("acct-mon", "drawdown"),
        ("acct-mon", "historical_var"),
    }
    assert {a.causation_id for a in alerts()} == {b.event_id for b in breaches()}
    assert sorted(e.event_id for e in (*breaches(), *alerts())) == sorted(e.event_id for e in result.events)


async def test_a_breach_of_a_derisk_rule_rebalances_the_account_down(flow: Flow) -> None:
    from hatchet_workflows.risk_monitor.models import AccountSnapshot, MonitorInput
    from hatchet_workflows.risk_monitor.workflow import derisk, monitor_workflow

    config = flow.logs / "derisk.toml"
    config.write_text(
        CONFIG + '\n[monitor]\nmax_gross_exposure = "100000"\nderisk_rules = ["gross_exposure"]\n'
    )
    watch = MonitorInput(
        accounts=[
            AccountSnapshot(account_id="acct-derisk", positions={"BTC/USDT": D("2"), "ETH/USDT": D("4")})
        ],
        price_history={"BTC/USDT": [D("60000"), D("60000")], "ETH/USDT": [D("3000"), D("3000")]},
    )
    name = f"wf-derisk-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, name, ZVT_TRADING_CONFIG=str(config)):
        await serving(monitor_workflow, name)
        outcome = (await monitor_workflow.aio_run(watch))[derisk.name]
    assert outcome == {"statuses": {"acct-derisk": RebalanceStatus.COMPLETED.value}}

    (breach,) = [b for b in flow.output.of_type(RiskBreached) if b.account_id == "acct-derisk"]
    assert breach.rule == "gross_exposure"

    def rebalanced() -> list[PortfolioRebalanced]:
        return [e for e in flow.output.of_type(PortfolioRebalanced) if e.causation_id == breach.event_id]

    await wait_until(lambda: len(rebalanced()) == 1, 30, lambda: "no portfolio.rebalanced for the breach")
    (event,) = rebalanced()
    sold = {
        (fill.symbol, fill.side.value): fill.fill_quantity
        for fill in flow.output.of_type(OrderExecuted)
        if fill.order_id in event.order_ids
    }
    assert sold == {("BTC/USDT", "sell"): D("1"), ("ETH/USDT", "sell"): D("2")}


async def test_a_lasting_breach_alerts_once_per_interval_and_is_derisked_once(flow: Flow) -> None:
    """Three checks of an account that stays above its limit, 5 minutes apart, re-alert interval 10
    minutes: alerted at the first and the third, de-risked at the first only; the state lives in Redis
    between the runs."""
    from hatchet_workflows.risk_monitor.models import AccountSnapshot, MonitorInput, MonitorResult
    from hatchet_workflows.risk_monitor.workflow import assess, derisk, monitor_workflow

    config = flow.logs / "lasting.toml"
    config.write_text(
        CONFIG + '\n[monitor]\nmax_gross_exposure = "100000"\nderisk_rules = ["gross_exposure"]\n'
        'realert_seconds = "600"\n'
    )
    start = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    account = f"acct-last-{uuid.uuid4().hex[:4]}"
    held = {"BTC/USDT": D("2"), "ETH/USDT": D("4")}  # 240,000: the explicit input says it stays so
    runs: list[dict[str, Any]] = []
    name = f"wf-last-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, name, ZVT_TRADING_CONFIG=str(config)):
        await serving(monitor_workflow, name)
        for minutes in (0, 5, 10):
            watch = MonitorInput(
                accounts=[AccountSnapshot(account_id=account, positions=held)],
                price_history={"BTC/USDT": [D("60000"), D("60000")], "ETH/USDT": [D("3000"), D("3000")]},
                as_of=start + timedelta(minutes=minutes),
            )  # fmt: skip
            runs.append(await monitor_workflow.aio_run(watch))

    results = [MonitorResult.model_validate(run[assess.name]) for run in runs]
    assert [len(r.events) for r in results] == [2, 0, 2]
    assert results[1].lasting == [f"{account}:gross_exposure"]
    assert [run[derisk.name]["statuses"] for run in runs] == [
        {account: RebalanceStatus.COMPLETED.value},
        {},
        {},
    ]

    def breaches() -> list[RiskBreached]:
        return [b for b in flow.output.of_type(RiskBreached) if b.account_id == account]

    published = {e.event_id for r in results for e in r.events if isinstance(e, RiskBreached)}
    await wait_until(lambda: {b.event_id for b in breaches()} == published, 30, lambda: f"{breaches()}")
    alerts = [a for a in flow.output.of_type(AlertTriggered) if a.account_id == account]
    assert len(breaches()) == len(alerts) == 2
    causes = {b.event_id for b in breaches()}

    def rebalances() -> list[PortfolioRebalanced]:
        return [e for e in flow.output.of_type(PortfolioRebalanced) if e.causation_id in causes]

    await wait_until(lambda: len(rebalances()) >= 1, 30, lambda: "no de-risking rebalance")
    assert [e.causation_id for e in rebalances()] == [results[0].derisk[0].event_id]
