"""The risk monitor: exposure and drawdown breaches, reported once, cleared once."""

from __future__ import annotations

from decimal import Decimal

from schemas import AlertTriggered, Event, PositionUpdated, RiskBreached
from schemas.primitives import Severity
from tests.unit.trading.builders import D
from trading.config import MonitorLimits
from trading.ids import derived_id
from trading.monitor import DRAWDOWN_RULE, EXPOSURE_RULE, AccountMonitorState, observe

LIMITS = MonitorLimits(max_gross_exposure=D(1000), max_drawdown=D(100))


def update(
    quantity: str,
    mark: str | None = "60000",
    *,
    symbol: str = "BTC/USDT",
    average: str = "60000",
    realized: str = "0",
    unrealized: str = "0",
    fees: str = "0",
) -> PositionUpdated:
    return PositionUpdated(
        account_id="acct-1",
        symbol=symbol,
        quantity=D(quantity),
        average_cost=D(average),
        realized_pnl=D(realized),
        unrealized_pnl=D(unrealized),
        fees_paid=D(fees),
        mark_price=None if mark is None else D(mark),
        quote_currency="USDT",
    )


def run(*updates: PositionUpdated) -> tuple[AccountMonitorState, list[list[Event]]]:
    state = AccountMonitorState()
    emitted = []
    for position in updates:
        state, events = observe(state, position, LIMITS)
        emitted.append(events)
    return state, emitted


def test_within_limits_emits_nothing() -> None:
    state, emitted = run(update("0.01"))  # 600
    assert emitted == [[]]
    assert state.gross_exposure == D(600)
    assert state.breached == frozenset()


def test_exposure_breach_emits_breach_and_alert_once() -> None:
    first = update("0.02")  # 0.02 x 60000 = 1200 > 1000
    state, emitted = run(first, update("0.025"))
    events = emitted[0]
    assert [type(e) for e in events] == [RiskBreached, AlertTriggered]
    breach, alert = events
    assert isinstance(breach, RiskBreached)
    assert (breach.rule, breach.limit, breach.observed) == (EXPOSURE_RULE, D(1000), D(1200))
    assert (breach.account_id, breach.symbol, breach.severity) == ("acct-1", "BTC/USDT", Severity.CRITICAL)
    assert breach.event_id == derived_id(first.event_id, "breach:gross_exposure")
    assert breach.causation_id == first.event_id
    assert isinstance(alert, AlertTriggered)
    assert alert.severity is Severity.CRITICAL
    assert alert.causation_id == breach.event_id
    assert alert.correlation_id == first.correlation_id
    assert "1200" in alert.message
    assert emitted[1] == []  # still breached at 1500: no second alert
    assert state.breached == frozenset({EXPOSURE_RULE})


def test_cleared_breach_emits_an_info_alert_and_can_breach_again() -> None:
    back = update("0.01")
    state, emitted = run(update("0.02"), back, update("0.01"), update("0.03"))
    cleared = emitted[1]
    assert len(cleared) == 1
    info = cleared[0]
    assert isinstance(info, AlertTriggered)
    assert info.severity is Severity.INFO
    assert "back within limit 1000" in info.message
    assert info.event_id == derived_id(back.event_id, "cleared:gross_exposure")
    assert emitted[2] == []
    assert [type(e) for e in emitted[3]] == [RiskBreached, AlertTriggered]
    assert state.breached == frozenset({EXPOSURE_RULE})


def test_exposure_is_summed_across_symbols() -> None:
    # BTC 0.01 x 60000 = 600, then ETH 0.2 x 3000 = 600: 1200 together
    state, emitted = run(update("0.01"), update("-0.2", "3000", symbol="ETH/USDT", average="3100"))
    assert emitted[0] == []
    breach = emitted[1][0]
    assert isinstance(breach, RiskBreached)
    assert (breach.observed, breach.symbol) == (D(1200), "ETH/USDT")
    assert state.gross_exposure == D(1200)


def test_exposure_at_the_limit_is_not_a_breach() -> None:
    _, emitted = run(update("0.02", "50000"))  # exactly 1000
    assert emitted == [[]]


def test_average_cost_marks_a_position_without_a_mark() -> None:
    _, emitted = run(update("0.02", None, average="40000"))  # 800 at the average cost
    assert emitted == [[]]
    _, emitted = run(update("0.02", None, average="60000"))  # 1200
    assert isinstance(emitted[0][0], RiskBreached)


def test_drawdown_from_the_peak() -> None:
    # net = realized + unrealized - fees: 250 + 60 - 10 = 300 (peak), then 100 + 60 - 10 = 150
    peak = update("0.001", realized="250", unrealized="60", fees="10")
    fall = update("0.001", realized="100", unrealized="60", fees="10")
    state, emitted = run(peak, fall)
    assert emitted[0] == []
    assert state.peak_net_pnl == D(300)
    assert state.net_pnl == D(150)
    breach = emitted[1][0]
    assert isinstance(breach, RiskBreached)
    assert (breach.rule, breach.limit, breach.observed) == (DRAWDOWN_RULE, D(100), D(150))
    assert state.breached == frozenset({DRAWDOWN_RULE})


def test_drawdown_of_exactly_the_limit_is_not_a_breach() -> None:
    state, emitted = run(update("0.001", realized="300"), update("0.001", realized="200"))
    assert emitted == [[], []]
    assert state.peak_net_pnl - state.net_pnl == D(100)


def test_drawdown_counts_from_zero_before_any_gain() -> None:
    _, emitted = run(update("0.001", realized="-101"))
    assert [e.rule for e in emitted[0] if isinstance(e, RiskBreached)] == [DRAWDOWN_RULE]


def test_drawdown_over_symbols_uses_account_net_pnl() -> None:
    # BTC +300 sets the peak; ETH -150 takes the account to 150: drawdown 150
    state, emitted = run(
        update("0.001", realized="300"),
        update("0.1", "3000", symbol="ETH/USDT", average="3000", unrealized="-150"),
    )
    assert state.net_pnl == D(150)
    assert any(isinstance(e, RiskBreached) and e.rule == DRAWDOWN_RULE for e in emitted[1])


def test_state_is_not_mutated() -> None:
    state = AccountMonitorState()
    observe(state, update("0.02"), LIMITS)
    assert state.symbols == {}
    assert state.breached == frozenset()
    assert state.peak_net_pnl == Decimal(0)
