"""The session report's figures from a hand-made event stream: counts, rejections, PnL, latency, equity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest

from reports.html import session_html
from reports.session import (
    TOTAL,
    equity_curves,
    percentile,
    session_figures,
    step_latencies,
    write_report,
)
from schemas import (
    CancelReason,
    Event,
    OrderCanceled,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrderStatus,
    OrderValidated,
    PriceUpdated,
    RejectReason,
)
from schemas.primitives import Liquidity, OrderType, Side
from trading.analytics import Basis
from zvt.cli import parse_capital

D = Decimal
T0 = datetime(2024, 8, 8, 23, 54, 14, tzinfo=UTC)
WALL = datetime(2026, 1, 1, tzinfo=UTC)


def price(symbol: str, value: str, seconds: float) -> PriceUpdated:
    return PriceUpdated(
        venue="binance", symbol=symbol, price=D(value), market_time=T0 + timedelta(seconds=seconds)
    )


def request(order_id: str, strategy: str, side: Side, quantity: str, seconds: float) -> OrderRequested:
    return OrderRequested(
        order_id=order_id,
        account_id=f"acct-{strategy}",
        strategy_id=strategy,
        symbol="BTC/USDT",
        side=side,
        order_type=OrderType.MARKET,
        quantity=D(quantity),
        market_time=T0 + timedelta(seconds=seconds),
        timestamp=WALL,
    )


def fill(
    order: OrderRequested, quantity: str, at: str, fee: str, status: OrderStatus, ms: int
) -> OrderExecuted:
    return order.caused(
        OrderExecuted,
        order_id=order.order_id,
        account_id=order.account_id,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        venue="binance",
        fill_id=f"{order.order_id}-{quantity}",
        fill_quantity=D(quantity),
        fill_price=D(at),
        fee=D(fee),
        fee_currency="USDT",
        liquidity=Liquidity.TAKER,
        cumulative_quantity=D(quantity),
        remaining_quantity=order.quantity - D(quantity),
        status=status,
        timestamp=WALL + timedelta(milliseconds=ms),
    )


def validated(order: OrderRequested, ms: int) -> OrderValidated:
    fields = order.model_dump(
        exclude={"event_id", "event_type", "timestamp", "correlation_id", "causation_id", "metadata"}
    )
    return order.caused(OrderValidated, **fields, timestamp=WALL + timedelta(milliseconds=ms))


BUY = request("o-1", "ma", Side.BUY, "2", 1)
SELL = request("o-2", "ma", Side.SELL, "1", 3)
PARTIAL = request("o-3", "grid", Side.BUY, "1", 2)
REFUSED = request("o-4", "grid", Side.BUY, "50", 2)
EVENTS: list[Event] = [
    price("BTC/USDT", "100", 0),
    BUY,
    validated(BUY, 4),
    fill(BUY, "2", "101", "0.2", OrderStatus.FILLED, 10),
    PARTIAL,
    fill(PARTIAL, "0.5", "101", "0.05", OrderStatus.CANCELED, 5),
    REFUSED,
    REFUSED.caused(
        OrderRejected,
        order_id="o-4",
        account_id="acct-grid",
        strategy_id="grid",
        symbol="BTC/USDT",
        side=Side.BUY,
        reason=RejectReason.MAX_ORDER_NOTIONAL,
        detail="too big",
    ),
    price("BTC/USDT", "104", 2.5),
    SELL,
    fill(SELL, "1", "103", "0.1", OrderStatus.FILLED, 2),
    price("BTC/USDT", "102", 4),
]


def test_counts_rejections_and_exact_pnl_per_strategy() -> None:
    figures = session_figures("s.", [*EVENTS, EVENTS[3]])  # a redelivered fill counts once
    assert (figures.requested, figures.filled, figures.canceled) == (4, 2, 1)
    assert figures.rejected == {"max_order_notional": 1}
    lines = {line.strategy_id: line for line in figures.pnl}
    ma = lines["ma"].position
    assert (ma.quantity, ma.realized_pnl, ma.fees_paid) == (D(1), D(2), D("0.3"))  # sold 1 at 103, cost 101
    assert ma.net_pnl(lines["ma"].mark) == D(2) + (D(102) - D(101)) - D("0.3")  # marked at the last price
    assert lines["grid"].position.net_pnl(D(102)) == D("0.5") - D("0.05")
    assert len(figures.fills) == 3
    assert figures.fills[0]["order_market_time"] == BUY.market_time.isoformat()  # type: ignore[union-attr]


def test_step_latency_from_the_first_event_of_each_step() -> None:
    latency = step_latencies(EVENTS)
    assert latency["requested->validated"]["count"] == 1
    assert latency["requested->validated"]["p50"] == 4.0
    assert latency["routed->executed"] == {"count": 0}  # no routed events: the step is listed, empty


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([7.0], 99)) == (50.0, 99.0, 7.0)


def test_equity_moves_at_fills_and_prices_in_market_time_per_strategy_and_in_total() -> None:
    curves = equity_curves(EVENTS)
    assert set(curves) == {TOTAL, "ma", "grid"}
    last = {name: curve[-1] for name, curve in curves.items()}
    assert last["ma"] == (T0 + timedelta(seconds=4), D("2.7"))
    assert last["grid"][1] == D("0.45")
    assert last[TOTAL] == (T0 + timedelta(seconds=4), D("3.15"))
    times = [at for at, _ in curves[TOTAL]]
    assert times == sorted(times)  # in market time, though the sell's fill arrived first in wall time
    first_fill = curves["ma"][0]
    assert first_fill == (T0 + timedelta(seconds=1), D(-2) - D("0.2"))  # bought 2 at 101, marked at 100


def test_orders_lost_doubled_or_overfilled_are_named() -> None:
    assert session_figures("s.", EVENTS).without_outcome == []
    sell_fill = next(e for e in EVENTS if isinstance(e, OrderExecuted) and e.order_id == "o-2")
    lost = session_figures("s.", [e for e in EVENTS if e is not sell_fill])
    assert lost.without_outcome == ["o-2"]
    again = fill(SELL, "1", "103", "0.1", OrderStatus.FILLED, 9).model_copy(
        update={"fill_id": "other", "event_id": uuid4()}
    )
    doubled = session_figures("s.", [*EVENTS, again])
    assert doubled.outcome_twice == ["o-2"]
    assert doubled.overfilled == ["o-2"]


def test_analytics_per_strategy_and_in_total_follow_the_equity_curves() -> None:
    basis = Basis(capital=D(1000), period=timedelta(seconds=1))
    figures = session_figures("s.", EVENTS, basis)
    assert set(figures.analytics) == {TOTAL, "ma", "grid"}
    ma = figures.analytics["ma"]
    assert ma.total_return == D("2.7") / 1000  # its curve's last net PnL over its capital
    assert (ma.trades, ma.closing_trades, ma.win_rate) == (2, 1, D(1))  # sold 1 at 103 on a cost of 101
    assert ma.fees == D("0.3")
    assert ma.turnover == (D(2) * 101 + D(103)) / 1000
    total = figures.analytics[TOTAL]
    assert total.total_return == D("3.15") / 2000  # two strategies: twice the capital
    assert total.trades == 3
    # every strategy over the whole session (the first price at 0 s to the last at 4 s), a return a second
    assert figures.analytics["grid"].periods == ma.periods == 4
    report = figures.as_json()["analytics"]
    assert report["capital_per_strategy"] == "1000"
    assert report["by_strategy"]["ma"]["win_rate"] == "1.0000"


def test_the_html_page_shows_every_strategy_and_escapes_what_it_shows(tmp_path: Path) -> None:
    report, chart, page = write_report(session_figures("s.", EVENTS), tmp_path)
    html = page.read_text()
    assert (report.name, chart.name, page.name) == ("session.json", "equity.png", "session.html")
    assert html.count('<tr class="total">') == 1
    for name in ("<td>ma</td>", "<td>grid</td>", f"<td>{TOTAL}</td>", "Sharpe", "max drawdown",
                 'src="equity.png"', "max_order_notional 1"):  # fmt: skip
        assert name in html
    content = json.loads(report.read_text())
    content["topic_prefix"] = "<script>x</script>"
    hostile = session_html(content, total=TOTAL)
    assert "<script>" not in hostile
    assert "&lt;script&gt;x&lt;/script&gt;" in hostile


def test_capital_must_be_a_positive_finite_amount() -> None:
    assert parse_capital("2500.50") == D("2500.50")
    for text in ("abc", "-5", "0", "nan", "inf"):
        with pytest.raises(ValueError, match="positive amount"):
            parse_capital(text)


def test_an_order_canceled_or_expired_after_its_fills_ends_once() -> None:
    """The engine ends a partly filled IOC order with order.canceled after its fill, and a good-till
    order with order.expired: each is the order's one outcome, counted as canceled or expired."""
    ioc = request("o-5", "grid", Side.BUY, "1", 5)
    good_till = request("o-6", "grid", Side.SELL, "1", 6)
    part = fill(ioc, "0.4", "102", "0.04", OrderStatus.PARTIALLY_FILLED, 3)
    rest = ioc.caused(
        OrderCanceled,
        **ioc.order_fields(),
        venue="binance",
        reason=CancelReason.UNFILLED_REMAINDER,
        canceled_quantity=D("0.6"),
        cumulative_quantity=D("0.4"),
        canceled_at=T0 + timedelta(seconds=5),
    )
    lapsed = good_till.caused(
        OrderExpired,
        **good_till.order_fields(),
        expired_quantity=D(1),
        cumulative_quantity=D(0),
        expire_at=T0 + timedelta(seconds=9),
    )
    figures = session_figures("s.", [*EVENTS, ioc, part, rest, good_till, lapsed])
    assert (figures.requested, figures.filled, figures.canceled, figures.expired) == (6, 2, 2, 1)
    assert (figures.without_outcome, figures.outcome_twice) == ([], [])
    assert figures.as_json()["orders"]["expired"] == 1
    assert session_figures("s.", [*EVENTS, ioc, part]).without_outcome == ["o-5"]  # a fill is no end
