"""The worker's control view: a signed control command is applied, anything else refused (never applied)."""

from __future__ import annotations

from agents.controls import ControlView
from schemas import CODEC, KillSwitchSet, PriceUpdated
from schemas.signing import keyring
from tests.unit.strategies.support import price


def test_a_signed_command_is_applied_and_the_limits_follow() -> None:
    view = ControlView()
    command = KillSwitchSet(engaged=True, account_id="acct-1", issued_by="alice", reason="test")
    value = CODEC.encode(command)
    assert view.apply_record(value, keyring().sign(value)) == command
    assert view.limits_for("acct-1").kill_switch
    assert not view.limits_for("acct-2").kill_switch
    assert view.summary()["account_kills"]["acct-1"]["issued_by"] == "alice"


def test_unsigned_forged_or_foreign_records_are_refused() -> None:
    view = ControlView()
    command = KillSwitchSet(engaged=True, issued_by="mallory", reason="forged")
    value = CODEC.encode(command)
    assert view.apply_record(value, None) is None  # unsigned
    assert view.apply_record(value, keyring().sign(value + b" ")) is None  # not these bytes
    assert view.apply_record(b"{not json", keyring().sign(b"{not json")) is None
    other: PriceUpdated = price("100", 0)
    assert view.apply_record(CODEC.encode(other), keyring().sign(CODEC.encode(other))) is None
    assert view.refused == 4
    assert view.state.applied == 0
    assert not view.limits_for("acct-1").kill_switch
