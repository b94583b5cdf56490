"""The per-venue circuit breaker with an injected clock."""

from __future__ import annotations

from trading.circuit import CircuitBreaker, CircuitState


def tripped(at: float = 5.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10.0)
    for now in (at - 2, at - 1, at):
        breaker.record_failure(now)
    return breaker


def test_closed_until_the_threshold() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10.0)
    breaker.record_failure(1.0)
    breaker.record_failure(2.0)
    assert breaker.state(2.0) is CircuitState.CLOSED
    assert breaker.allow(2.0)
    assert breaker.allow(2.0)
    breaker.record_failure(3.0)
    assert breaker.state(3.0) is CircuitState.OPEN
    assert breaker.opened_at == 3.0


def test_open_refuses_until_the_reset_timeout() -> None:
    breaker = tripped(at=5.0)
    assert not breaker.allow(5.0)
    assert not breaker.allow(14.999)
    assert breaker.state(14.999) is CircuitState.OPEN
    assert breaker.state(15.0) is CircuitState.HALF_OPEN


def test_half_open_lets_exactly_one_probe() -> None:
    breaker = tripped(at=5.0)
    assert breaker.allow(15.0)
    assert not breaker.allow(15.0)
    assert not breaker.allow(24.999)
    assert breaker.state(24.999) is CircuitState.HALF_OPEN


def test_a_probe_that_never_reports_frees_its_slot_after_a_reset_timeout() -> None:
    breaker = tripped(at=5.0)
    assert breaker.allow(15.0)
    assert breaker.allow(25.0)  # the first probe is presumed lost
    assert not breaker.allow(25.0)


def test_probe_success_closes() -> None:
    breaker = tripped(at=5.0)
    assert breaker.allow(15.0)
    breaker.record_success()
    assert breaker.state(15.0) is CircuitState.CLOSED
    assert breaker.failures == 0
    assert breaker.allow(15.1)
    assert breaker.allow(15.2)
    # a fresh count: two failures do not reopen it
    breaker.record_failure(16.0)
    breaker.record_failure(17.0)
    assert breaker.state(17.0) is CircuitState.CLOSED


def test_probe_failure_reopens_for_a_full_timeout() -> None:
    breaker = tripped(at=5.0)
    assert breaker.allow(20.0)
    breaker.record_failure(20.0)  # one failure is enough while open
    assert breaker.state(20.0) is CircuitState.OPEN
    assert not breaker.allow(29.9)
    assert breaker.state(30.0) is CircuitState.HALF_OPEN
    assert breaker.allow(30.0)  # a new probe after the new timeout
    assert not breaker.allow(30.0)


def test_success_resets_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10.0)
    breaker.record_failure(1.0)
    breaker.record_failure(2.0)
    breaker.record_success()
    breaker.record_failure(3.0)
    breaker.record_failure(4.0)
    assert breaker.state(4.0) is CircuitState.CLOSED
    breaker.record_failure(5.0)
    assert breaker.state(5.0) is CircuitState.OPEN
