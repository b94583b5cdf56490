"""A wait bounded by wall clock: waits while it must, for at most the bound, then goes on."""

from __future__ import annotations

import time

import pytest

from agents.waits import BoundedWaits


def test_a_wait_goes_on_once_the_bound_passed_and_starts_again_after_it_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    bounded = BoundedWaits(lambda: 30.0)
    assert bounded.waits("a", True)
    now[0] = 129.9
    assert bounded.waits("a", True)
    assert bounded.waits("b", True)  # its own clock
    now[0] = 130.0
    assert not bounded.waits("a", True)  # 30 s: judged on what came
    assert bounded.waits("a", True)  # a new wait (the item waits again): a new clock
    assert not bounded.waits("b", False)  # what it waited for came
    now[0] = 200.0
    assert bounded.waits("b", True)
