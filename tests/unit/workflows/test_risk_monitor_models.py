"""The risk monitor's pure parts: aligned histories, and breaches with run-fixed ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from hatchet_workflows.risk_monitor.models import (
    AccountSnapshot,
    MonitorResult,
    MonitorState,
    Snapshot,
    aligned,
    derisk_inputs,
    evaluate,
    track,
)
from schemas import AlertTriggered, RiskBreached
from trading.config import MonitorLimits
from trading.ids import derived_id
from trading.rebalance import rebalance_orders

D = Decimal
T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
LIMITS = MonitorLimits(max_gross_exposure=D("1000"), max_drawdown=D("1000"), max_var=D("1000"))


def test_histories_are_cut_to_the_most_recent_common_length() -> None:
    assert aligned({"A/B": [D(1), D(2), D(3)], "C/D": [D(5), D(6)]}) == {
        "A/B": [D(2), D(3)],
        "C/D": [D(5), D(6)],
    }
    assert aligned({"A/B": [D(1)], "C/D": []}) == {"A/B": [D(1)]}


def test_each_breach_has_its_alert_and_ids_fixed_by_the_run() -> None:
    snapshot = Snapshot(
        as_of=T0,
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
        as_of=T0,
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
        as_of=T0,
        accounts=[AccountSnapshot(account_id="hot", positions={"A/B": D("20")})],
        price_history={"A/B": [D("100"), D("100")]},
    )
    breaches = [e for e in evaluate(snapshot, LIMITS, uuid4()).events if isinstance(e, RiskBreached)]
    assert breaches
    assert derisk_inputs(snapshot, breaches, LIMITS) == []
    other_rule = LIMITS.model_copy(update={"derisk_rules": ("drawdown",)})
    assert derisk_inputs(snapshot, breaches, other_rule) == []


def check(positions: dict[str, str], at: timedelta, state: MonitorState, limits: MonitorLimits = LIMITS,
          accounts: tuple[str, ...] = ("hot",)) -> MonitorResult:  # fmt: skip
    """One monitor run at T0 + `at` over `accounts` holding `positions` (A/B at 100, flat), after `state`."""
    held = {symbol: D(quantity) for symbol, quantity in positions.items()}
    snapshot = Snapshot(
        as_of=T0 + at,
        accounts=[AccountSnapshot(account_id=account, positions=held) for account in accounts],
        price_history={"A/B": [D(100), D(100)], "X/Y": []},
    )
    return track(evaluate(snapshot, limits, uuid4()), state, snapshot.as_of, limits)


def test_a_lasting_breach_alerts_once_then_again_after_the_realert_interval() -> None:
    limits = LIMITS.model_copy(update={"realert_seconds": D(600)})
    first = check({"A/B": "20"}, timedelta(0), MonitorState(), limits)
    assert [(e.event_type, e.account_id) for e in first.events] == [
        ("risk.breached", "hot"),
        ("alert.triggered", "hot"),
    ]
    assert set(first.state.breaches) == {"hot:gross_exposure"}
    held = first.state.breaches["hot:gross_exposure"]
    assert (held.since, held.alerted_at, held.breach_id) == (T0, T0, first.events[0].event_id)

    for minutes in (5, 9):  # within 600 s of the alert: remembered, not published
        later = check({"A/B": "20"}, timedelta(minutes=minutes), first.state, limits)
        assert later.events == []
        assert later.lasting == ["hot:gross_exposure"]
        assert later.state == first.state
    due = check({"A/B": "20"}, timedelta(minutes=10), first.state, limits)
    assert [e.event_type for e in due.events] == ["risk.breached", "alert.triggered"]
    assert due.state.breaches["hot:gross_exposure"].since == T0  # the same stretch, alerted again
    assert due.state.breaches["hot:gross_exposure"].alerted_at == T0 + timedelta(minutes=10)


def test_a_cleared_breach_is_forgotten_and_alerts_anew_when_it_returns() -> None:
    first = check({"A/B": "20"}, timedelta(0), MonitorState())
    calm = check({"A/B": "1"}, timedelta(minutes=5), first.state)
    assert (calm.events, calm.state) == ([], MonitorState())
    back = check({"A/B": "20"}, timedelta(minutes=10), calm.state)
    assert [e.event_type for e in back.events] == ["risk.breached", "alert.triggered"]
    assert back.state.breaches["hot:gross_exposure"].since == T0 + timedelta(minutes=10)


def test_an_account_whose_figures_fail_keeps_its_breaches() -> None:
    first = check({"A/B": "20"}, timedelta(0), MonitorState())
    unpriced = check({"X/Y": "1"}, timedelta(minutes=5), first.state)  # no prices for X/Y: no figures
    assert unpriced.accounts[0].error is not None
    assert unpriced.state == first.state


def test_a_lasting_breach_of_a_derisk_rule_is_derisked_once() -> None:
    limits = LIMITS.model_copy(update={"derisk_rules": ("gross_exposure",), "realert_seconds": D(60)})
    first = check({"A/B": "20"}, timedelta(0), MonitorState(), limits)
    assert [b.event_id for b in first.derisk] == [first.events[0].event_id]
    assert first.state.breaches["hot:gross_exposure"].derisked_by == first.events[0].event_id
    for minutes in (5, 30):  # still above the limit after the rebalance, and re-alerted: no second de-risk
        later = check({"A/B": "15"}, timedelta(minutes=minutes), first.state, limits)
        assert later.derisk == []
        assert [e.event_type for e in later.events] == ["risk.breached", "alert.triggered"]
        assert later.state.breaches["hot:gross_exposure"].derisked_by == first.events[0].event_id
    cleared = check({"A/B": "1"}, timedelta(minutes=40), first.state, limits)
    again = check({"A/B": "20"}, timedelta(minutes=45), cleared.state, limits)
    assert len(again.derisk) == 1  # a new breach after it cleared is de-risked again


def test_a_newly_listed_derisk_rule_derisks_a_breach_already_alerted() -> None:
    """A breach alerted while alerts were all it got is published again when it comes up for de-risking,
    so the rebalance's cause is an event on record."""
    first = check({"A/B": "20"}, timedelta(0), MonitorState())
    limits = LIMITS.model_copy(update={"derisk_rules": ("gross_exposure",)})
    later = check({"A/B": "20"}, timedelta(minutes=5), first.state, limits)
    assert [b.event_id for b in later.derisk] == [later.events[0].event_id]
