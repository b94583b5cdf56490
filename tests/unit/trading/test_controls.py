"""The runtime control state: commands validated, folded in order, and the effective limits risk gets."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import CODEC, AccountLimitsSet, KillSwitchSet, LimitName, StrategyHaltSet
from schemas.controls import WHOLE_LIMITS, limit_value
from topics import Topics
from trading.config import RiskLimits
from trading.controls import ControlState, effective_limits, fold, kill_switch_detail

WHO = {"issued_by": "alice@desk", "reason": "testing"}


def kill(engaged: bool, account: str | None = None) -> KillSwitchSet:
    return KillSwitchSet(engaged=engaged, account_id=account, **WHO)


def limits(account: str, reset: tuple[str, ...] = (), **changes: str) -> AccountLimitsSet:
    return AccountLimitsSet.model_validate({"account_id": account, "limits": changes, "reset": reset, **WHO})


def test_the_changeable_limits_are_every_risk_limit_but_the_kill_switch() -> None:
    assert {str(name) for name in LimitName} == set(RiskLimits.model_fields) - {"kill_switch"}
    whole = {name for name, field in RiskLimits.model_fields.items() if field.annotation is int}
    assert {str(name) for name in WHOLE_LIMITS} == whole


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("max_fun", "1", "unknown limit 'max_fun' (known: max_gross_exposure"),
        ("kill_switch", "1", "a command of its own"),
        ("max_open_orders", "2.5", "max_open_orders is a count: a whole number, got 2.5"),
        ("price_collar", "0", "price_collar must be above 0, got 0"),
        ("price_collar", "-0.1", "must be above 0"),
        ("price_collar", "abc", "'abc' is not a decimal number"),
        ("price_collar", "NaN", "not a finite number"),
        ("price_collar", "Infinity", "not a finite number"),
        ("max_order_notional", "1e999999", "must be below 1e+15"),
        ("max_order_notional", True, "not bool"),
        ("max_order_notional", [1], "not list"),
    ],
)
def test_a_bad_limit_is_refused_with_the_reason(name: str, value: object, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)) as refused:
        limit_value(name, value)
    assert said in str(refused.value)
    with pytest.raises(ValidationError) as invalid:  # and the command with it
        AccountLimitsSet.model_validate({"account_id": "a", "limits": {name: value}, **WHO})
    assert said in str(invalid.value)


def test_a_good_limit_is_exact() -> None:
    assert limit_value("price_collar", " 0.015 ") == (LimitName.PRICE_COLLAR, Decimal("0.015"))
    assert limit_value("max_open_orders", 7) == (LimitName.MAX_OPEN_ORDERS, Decimal(7))
    assert limit_value("max_open_orders", "7.0") == (LimitName.MAX_OPEN_ORDERS, Decimal("7.0"))
    assert limit_value("price_collar", 0.1) == (LimitName.PRICE_COLLAR, Decimal("0.1"))  # as written


def test_a_limits_command_changes_something_and_not_one_limit_both_ways() -> None:
    with pytest.raises(ValidationError, match="at least one limit"):
        limits("a")
    with pytest.raises(ValidationError, match="changed and reset at once: price_collar"):
        limits("a", reset=("price_collar",), price_collar="0.1")
    with pytest.raises(ValidationError, match="issued_by"):
        KillSwitchSet(engaged=True, reason="no one")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="reason"):
        KillSwitchSet(engaged=True, issued_by="alice", reason="   ")


def test_the_scope_is_the_key_and_must_match_the_command() -> None:
    assert kill(True).scope == "global"
    assert kill(True, "acct-1").scope == "account:acct-1"
    assert limits("acct-1", max_open_orders="3").scope == "account:acct-1"
    halt = StrategyHaltSet(strategy_id="ma-1", halted=True, **WHO)
    assert Topics.CONTROL_COMMANDS.key_for(halt) == b"strategy:ma-1"
    with pytest.raises(ValidationError, match="scope must be 'global'"):
        KillSwitchSet(engaged=True, scope="account:acct-1", **WHO)
    decoded = CODEC.decode(CODEC.encode(halt))
    assert decoded == halt


def test_the_kill_switch_global_or_per_account_and_its_precedence() -> None:
    state = ControlState()
    assert not state.kill_switch("a")
    assert state.kill_switch("a", configured=True)  # nothing at runtime: the configuration's
    state = fold([kill(True, "a")])
    assert state.kill_switch("a")
    assert not state.kill_switch("b")
    state = state.apply(kill(False, "a"))
    assert not state.kill_switch("a", configured=True)  # released at runtime: the command wins
    state = state.apply(kill(True))
    assert state.kill_switch("a")
    assert state.kill_switch("b")  # global: every account
    assert not state.apply(kill(False)).kill_switch("b")
    assert state.global_kill is not None
    assert (state.global_kill.issued_by, state.global_kill.reason) == ("alice@desk", "testing")


def test_effective_limits_apply_runtime_changes_over_the_configured_ones() -> None:
    configured = RiskLimits(max_order_notional=Decimal(5000), max_open_orders=10)
    untouched = ControlState()
    assert effective_limits(configured, untouched, "a") is configured
    state = fold([limits("a", max_open_orders="3", price_collar="0.01")])
    mine = effective_limits(configured, state, "a")
    assert (mine.max_open_orders, mine.price_collar) == (3, Decimal("0.01"))
    assert isinstance(mine.max_open_orders, int)
    assert mine.max_order_notional == Decimal(5000)  # not named: configured
    assert effective_limits(configured, state, "b") is configured
    state = state.apply(limits("a", reset=("max_open_orders",), max_order_notional="100"))
    mine = effective_limits(configured, state, "a")
    assert (mine.max_open_orders, mine.price_collar, mine.max_order_notional) == (
        10,
        Decimal("0.01"),
        Decimal(100),
    )
    killed = effective_limits(configured, state.apply(kill(True)), "b")
    assert killed.kill_switch
    assert killed.model_copy(update={"kill_switch": False}) == configured


def test_a_halt_and_its_resume() -> None:
    halt = StrategyHaltSet(strategy_id="ma-1", halted=True, **WHO)
    state = fold([halt])
    assert state.halted("ma-1")
    assert not state.halted("ma-2")
    assert not state.apply(StrategyHaltSet(strategy_id="ma-1", halted=False, **WHO)).halted("ma-1")


def test_the_fold_is_ordered_and_a_redelivered_command_counts_once() -> None:
    on, off = kill(True, "a"), kill(False, "a")
    assert fold([on, off]).kill_switch("a") is False
    assert fold([off, on]).kill_switch("a") is True
    twice = fold([on, on])
    assert twice.applied == 1
    assert twice.last_event_id == on.event_id


def test_a_kill_switch_refusal_says_who_engaged_which_switch_and_why() -> None:
    assert kill_switch_detail(ControlState(), "a") is None  # the configured switch: risk's own detail
    own = kill(True, "a")
    state = fold([own])
    at = own.timestamp.isoformat(timespec="seconds")
    assert kill_switch_detail(state, "a") == f"kill switch of a engaged by alice@desk at {at}: testing"
    assert kill_switch_detail(state, "b") is None
    assert (kill_switch_detail(state.apply(kill(True)), "b") or "").startswith(
        "global kill switch engaged by"
    )
