"""The risk monitor's pure parts: aligned histories, and breaches with run-fixed ids."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from hatchet_workflows.risk_monitor.models import AccountSnapshot, Snapshot, aligned, derisk_inputs, evaluate
from schemas import AlertTriggered, RiskBreached
from trading.config import MonitorLimits
from trading.ids import derived_id
from trading.rebalance import rebalance_orders

D = Decimal
LIMITS = MonitorLimits(max_gross_exposure=D("1000"), max_drawdown=D("1000"), max_var=D("1000"))


def test_histories_are_cut_to_the_most_recent_common_length() -> None:
    assert aligned({"A/B": [D(1), D(2), D(3)], "C/D": [D(5), D(6)]}) == {
        "A/B": [D(2), D(3)],
        "C/D": [D(5), D(6)],
    }
    assert aligned({"A/B": [D(1)], "C/D": []}) == {"A/B": [D(1)]}


def test_each_breach_has_its_alert_and_ids_fixed_by_the_run() -> None:
    snapshot = Snapshot(
        accounts=[
            AccountSnapshot(account_id="hot", positions={"A/B": D("20")}),
            AccountSnapshot(account_id="calm", positions={"A/B": D("1")}),
            AccountSnapshot(account_id="unknown", positions={"X/Y": D("1")}),
        ],
        price_history={"A/B": [D("100"), D("100")]},
    )
    run = uuid4()
    result = evaluate(snapshot, LIMITS, run)
    assert [e.event_id for e in result.events] == [e.event_id for e in evaluate(snapshot, LIMITS, run).events]
    breach, alert = result.events
    assert isinstance(breach, RiskBreached)
    assert isinstance(alert, AlertTriggered)
    assert (breach.account_id, breach.rule, breach.observed, breach.limit) == (
        "hot",
        "gross_exposure",
        D("2000"),
        D("1000"),
    )
    assert breach.event_id == derived_id(run, "breach:hot:gross_exposure")
    assert breach.correlation_id == alert.correlation_id == run
    assert alert.causation_id == breach.event_id
    assert alert.message == "hot: gross exposure 2000 above limit 1000"
    errors = {a.account_id: a.error for a in result.accounts}
    assert errors == {"hot": None, "calm": None, "unknown": "no price history for held ['X/Y']"}


def test_a_breach_of_a_derisk_rule_halves_the_accounts_long_holdings() -> None:
    limits = LIMITS.model_copy(update={"derisk_rules": ("gross_exposure",), "derisk_scale": D("0.5")})
    snapshot = Snapshot(
        accounts=[
            AccountSnapshot(account_id="hot", positions={"A/B": D("20"), "C/D": D("3"), "E/F": D("-4")}),
            AccountSnapshot(account_id="calm", positions={"A/B": D("1")}),
        ],
        price_history={"A/B": [D("90"), D("100")], "C/D": [D("40"), D("50")], "E/F": [D("10"), D("10")]},
    )
    breaches = [e for e in evaluate(snapshot, limits, uuid4()).events if isinstance(e, RiskBreached)]
    (derisk,) = derisk_inputs(snapshot, breaches, limits)
    assert derisk.account_id == "hot"
    assert derisk.causation_id == breaches[0].event_id
    assert derisk.positions == {"A/B": D("20"), "C/D": D("3")}  # the short is left alone
    assert derisk.prices == {"A/B": D("100"), "C/D": D("50")}  # the latest
    # holdings worth 2000 + 150: half of each one's share
    assert derisk.target_weights == {"A/B": D("0.5") * 2000 / 2150, "C/D": D("0.5") * 150 / 2150}
    orders = rebalance_orders(derisk.target_weights, derisk.positions, derisk.prices, derisk.cash)
    assert [(o.symbol, o.side.value, o.quantity) for o in orders] == [
        ("A/B", "sell", D(10)),
        ("C/D", "sell", D("1.5")),
    ]


def test_no_derisk_without_a_matching_rule() -> None:
    snapshot = Snapshot(
        accounts=[AccountSnapshot(account_id="hot", positions={"A/B": D("20")})],
        price_history={"A/B": [D("100"), D("100")]},
    )
    breaches = [e for e in evaluate(snapshot, LIMITS, uuid4()).events if isinstance(e, RiskBreached)]
    assert breaches
    assert derisk_inputs(snapshot, breaches, LIMITS) == []
    other_rule = LIMITS.model_copy(update={"derisk_rules": ("drawdown",)})
    assert derisk_inputs(snapshot, breaches, other_rule) == []
