"""The figures of one trading session, from the events it produced (pure: no I/O but writing the report).

Orders, fills, rejections by reason, PnL per strategy and account (fills replayed through the pure
`trading.positions.Position`, marked at the last price of the fill's venue and symbol), latency per
pipeline step from the events' timestamps, and the portfolio's equity over market time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from reports.html import session_html
from schemas import (
    Event,
    ExchangeRouted,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderValidated,
    PositionUpdated,
    PriceUpdated,
)
from trading.analytics import Basis, Performance, Trade, performance
from trading.order_lifecycle import ends_order, outcome_of
from trading.positions import Position

STEPS = (
    ("requested", "validated"),
    ("validated", "routed"),
    ("routed", "executed"),
    ("executed", "position.updated"),
)
PERCENTILES = (50, 90, 99)


@dataclass
class StrategyPnl:
    strategy_id: str
    account_id: str
    symbol: str
    position: Position
    mark: Decimal | None
    fills: int

    def as_json(self) -> dict[str, Any]:
        p = self.position
        return {
            "strategy_id": self.strategy_id,
            "account_id": self.account_id,
            "symbol": self.symbol,
            "fills": self.fills,
            "quantity": str(p.quantity),
            "average_cost": str(p.average_cost),
            "realized_pnl": str(p.realized_pnl),
            "unrealized_pnl": str(p.unrealized_pnl(self.mark)),
            "fees": str(p.fees_paid),
            "net_pnl": str(p.net_pnl(self.mark)),
            "mark": None if self.mark is None else str(self.mark),
        }


@dataclass
class SessionFigures:
    prefix: str
    requested: int
    # Each must stay empty: an order with no terminal outcome (lost), with two, or filled past its quantity.
    without_outcome: list[str]
    outcome_twice: list[str]
    overfilled: list[str]
    filled: int
    canceled: int
    rejected: dict[str, int]
    expired: int
    pnl: list[StrategyPnl]
    latency_ms: dict[str, dict[str, float]]
    fill_event_ids: list[str]
    fills: list[dict[str, str | None]]  # what each fill was, in arrival order: the same data, the same fills
    equity: dict[str, list[tuple[datetime, Decimal]]]  # TOTAL and each strategy's
    prices: int
    analytics: dict[str, Performance]  # TOTAL and each strategy's (or account's)
    basis: Basis
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic_prefix": self.prefix,
            "prices": self.prices,
            "orders": {
                "requested": self.requested,
                "filled": self.filled,
                "canceled": self.canceled,
                "expired": self.expired,
                "rejected": sum(self.rejected.values()),
                "rejections_by_reason": dict(sorted(self.rejected.items())),
                "without_outcome": self.without_outcome,
                "outcome_twice": self.outcome_twice,
                "overfilled": self.overfilled,
            },
            "pnl": [line.as_json() for line in self.pnl],
            "total_net_pnl": str(sum((line.position.net_pnl(line.mark) for line in self.pnl), Decimal(0))),
            "latency_ms": self.latency_ms,
            "fill_event_ids": self.fill_event_ids,
            "fills": self.fills,
            "equity": [[at.isoformat(), str(value)] for at, value in self.equity[TOTAL]],
            "analytics": {
                "capital_per_strategy": str(self.basis.capital),
                "period_seconds": self.basis.period.total_seconds(),
                "by_strategy": {name: figures.as_json() for name, figures in self.analytics.items()},
            },
            **self.extra,
        }


def unique(events: Iterable[Event]) -> list[Event]:
    """Events once each (a consumer outside the pipeline dedupes by event id), in arrival order."""
    seen: set[object] = set()
    out = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in percent: the smallest value with at least q% of them at or below
    it (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(q / 100 * len(ordered))) - 1)]


def step_latencies(events: Sequence[Event]) -> dict[str, dict[str, float]]:
    """Per step, p50/p90/p99/max and count in ms, from the first event of each step per order."""
    at: dict[str, dict[str, datetime]] = {}
    fill_orders: dict[str, str] = {}

    def note(order_id: str, step: str, when: datetime) -> None:
        at.setdefault(order_id, {}).setdefault(step, when)

    for event in events:
        if isinstance(event, OrderRequested):
            note(event.order_id, "requested", event.timestamp)
        elif isinstance(event, OrderValidated):
            note(event.order_id, "validated", event.timestamp)
        elif isinstance(event, ExchangeRouted):
            note(event.order_id, "routed", event.timestamp)
        elif isinstance(event, OrderExecuted):
            note(event.order_id, "executed", event.timestamp)
            fill_orders[event.fill_id] = event.order_id
    for event in events:
        if isinstance(event, PositionUpdated) and event.last_fill_id in fill_orders:
            note(fill_orders[event.last_fill_id], "position.updated", event.timestamp)
    out: dict[str, dict[str, float]] = {}
    for start, end in STEPS:
        values = [
            (steps[end] - steps[start]).total_seconds() * 1000
            for steps in at.values()
            if start in steps and end in steps
        ]
        name = f"{start}->{end}"
        if values:
            out[name] = {f"p{q}": round(percentile(values, q), 1) for q in PERCENTILES}
            out[name]["max"] = round(max(values), 1)
        out.setdefault(name, {})["count"] = len(values)
    return out


def pnl_by_strategy(
    fills: Sequence[OrderExecuted], marks: dict[tuple[str, str], Decimal]
) -> list[StrategyPnl]:
    """Fills in order through `Position` per strategy, account and symbol; marked at the venue's last price"""
    lines: dict[tuple[str, str, str], StrategyPnl] = {}
    for fill in fills:
        key = (fill.strategy_id or "-", fill.account_id, fill.symbol)
        line = lines.get(key) or StrategyPnl(*key, position=Position(), mark=None, fills=0)
        line.position = line.position.apply_fill(fill.side, fill.fill_quantity, fill.fill_price, fill.fee)
        line.mark = marks.get((fill.venue, fill.symbol))
        line.fills += 1
        lines[key] = line
    return [lines[key] for key in sorted(lines)]


TOTAL = "all strategies"


def equity_curves(events: Sequence[Event]) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Net PnL over market time, of all positions (`TOTAL`) and of each strategy's (or, without one, each
    account's): each fill (at its order's market time) and each price of a held venue:symbol moves it."""
    requested = decided_at(events)
    timeline: list[tuple[datetime, int, Event]] = []
    for number, event in enumerate(events):
        if isinstance(event, PriceUpdated):
            timeline.append((event.market_time, number, event))
        elif isinstance(event, OrderExecuted) and requested.get(event.order_id) is not None:
            when = requested[event.order_id]
            assert when is not None
            timeline.append((when, number, event))
    timeline.sort(key=lambda item: (item[0], item[1]))
    positions: dict[tuple[str, str, str], Position] = {}
    venue_of: dict[tuple[str, str, str], tuple[str, str]] = {}
    marks: dict[tuple[str, str], Decimal] = {}
    curves: dict[str, list[tuple[datetime, Decimal]]] = {TOTAL: []}
    for when, _, event in timeline:
        if isinstance(event, PriceUpdated):
            marks[event.venue, event.symbol] = event.price
            if (event.venue, event.symbol) not in venue_of.values():
                continue
        elif isinstance(event, OrderExecuted):
            key = (event.strategy_id or event.account_id, event.account_id, event.symbol)
            held = positions.get(key, Position())
            positions[key] = held.apply_fill(event.side, event.fill_quantity, event.fill_price, event.fee)
            venue_of[key] = (event.venue, event.symbol)
        by_strategy: dict[str, Decimal] = {}
        for key, position in positions.items():
            value = position.net_pnl(marks.get(venue_of[key]))
            by_strategy[key[0]] = by_strategy.get(key[0], Decimal(0)) + value
        for strategy, value in by_strategy.items():
            curve = curves.setdefault(strategy, [])
            if not curve or curve[-1][1] != value:
                curve.append((when, value))
        curves[TOTAL].append((when, sum(by_strategy.values(), Decimal(0))))
    return curves


def analytics_by_strategy(
    events: Sequence[Event], curves: dict[str, list[tuple[datetime, Decimal]]], basis: Basis
) -> dict[str, Performance]:
    """Each strategy's figures on `basis.capital`, and the total's on that capital per strategy, from its
    curve and its fills in the order the curve applied them (their orders' market time), all over the
    session's span of market time (its first price to its last event)."""
    requested = decided_at(events)
    timed = [
        (when, number, event)
        for number, event in enumerate(events)
        if isinstance(event, OrderExecuted) and (when := requested.get(event.order_id)) is not None
    ]
    timed.sort(key=lambda item: (item[0], item[1]))
    trades: dict[str, list[Trade]] = {}
    every: list[Trade] = []
    for _, _, fill in timed:
        name = fill.strategy_id or fill.account_id
        trades.setdefault(name, []).append(
            Trade(fill.symbol, fill.side, fill.fill_quantity, fill.fill_price, fill.fee)
        )
        every.append(Trade(f"{name} {fill.symbol}", fill.side, fill.fill_quantity, fill.fill_price, fill.fee))
    times = [e.market_time for e in events if isinstance(e, PriceUpdated)] + [at for at, _ in curves[TOTAL]]
    span = {"start": min(times), "end": max(times)} if times else {}
    figures = {
        name: performance(curve, trades.get(name, []), capital=basis.capital, period=basis.period, **span)
        for name, curve in curves.items()
        if name != TOTAL
    }
    capital = basis.capital * max(1, len(figures))
    figures[TOTAL] = performance(curves[TOTAL], every, capital=capital, period=basis.period, **span)
    return figures


def fill_json(
    fill: OrderExecuted, market_time: datetime | None, limit_price: Decimal | None = None
) -> dict[str, str | None]:
    """A fill as the report lists it, with the market time its order was decided at, and what the fill
    audit (`zvt audit`) needs: the fill's own market time (the paper matching engine's), maker or taker,
    the order's limit price."""
    return {
        "order_id": fill.order_id,
        "strategy_id": fill.strategy_id,
        "account_id": fill.account_id,
        "venue": fill.venue,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": str(fill.fill_quantity),
        "price": str(fill.fill_price),
        "fee": str(fill.fee),
        "status": fill.status.value,
        "order_market_time": None if market_time is None else market_time.isoformat(),
        "market_time": None if fill.market_time is None else fill.market_time.isoformat(),
        "liquidity": fill.liquidity.value,
        "limit_price": None if limit_price is None else str(limit_price),
    }


def _limit(request: OrderRequested | None) -> Decimal | None:
    return None if request is None else request.limit_price


def decided_at(events: Sequence[Event]) -> dict[str, datetime | None]:
    """Each requested order's market time (when it was decided), by order id."""
    return {e.order_id: e.market_time for e in events if isinstance(e, OrderRequested)}


def session_figures(prefix: str, events: Sequence[Event], basis: Basis | None = None) -> SessionFigures:
    events = unique(events)
    basis = basis or Basis()
    curves = equity_curves(events)
    fills = [e for e in events if isinstance(e, OrderExecuted)]
    requests = {e.order_id: e for e in events if isinstance(e, OrderRequested)}
    market_times = {order_id: request.market_time for order_id, request in requests.items()}
    marks: dict[tuple[str, str], Decimal] = {}
    for event in events:
        if isinstance(event, PriceUpdated):
            marks[event.venue, event.symbol] = event.price
    # An order's end: its last fill (`filled`, or `canceled` with the remainder), or an order.canceled /
    # order.expired after its fills (the engine's IOC remainder, a resting order), or a rejection.
    ends = [e for e in events if ends_order(e)]
    ended = {e.order_id: outcome_of([e]) for e in ends}
    rejected = Counter(e.reason.value for e in ends if isinstance(e, OrderRejected))
    outcomes = Counter(e.order_id for e in ends)
    filled: dict[str, Decimal] = {}
    for fill in fills:
        filled[fill.order_id] = filled.get(fill.order_id, Decimal(0)) + fill.fill_quantity
    return SessionFigures(
        prefix=prefix,
        requested=len(requests),
        without_outcome=sorted(order for order in requests if outcomes[order] == 0),
        outcome_twice=sorted(order for order, count in outcomes.items() if count > 1),
        overfilled=sorted(o for o, q in filled.items() if o in requests and q > requests[o].quantity),
        filled=sum(1 for s in ended.values() if s == "filled"),
        canceled=sum(1 for s in ended.values() if s == "canceled"),
        rejected=dict(rejected),
        expired=sum(1 for s in ended.values() if s == "expired"),
        pnl=pnl_by_strategy(fills, marks),
        latency_ms=step_latencies(events),
        fill_event_ids=[str(f.event_id) for f in fills],
        fills=[fill_json(f, market_times.get(f.order_id), _limit(requests.get(f.order_id))) for f in fills],
        equity=curves,
        prices=sum(1 for e in events if isinstance(e, PriceUpdated)),
        analytics=analytics_by_strategy(events, curves, basis),
        basis=basis,
    )


def write_report(figures: SessionFigures, report_dir: Path) -> tuple[Path, Path, Path]:
    """`session.json` (Decimals as strings), `equity.png` and `session.html` (both) in `report_dir`."""
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "session.json"
    content = figures.as_json()
    report.write_text(json.dumps(content, indent=2) + "\n")
    chart = report_dir / "equity.png"
    plot_equity(figures.equity, chart, title=f"Session {figures.prefix.rstrip('.')}: net PnL")
    page = report_dir / "session.html"
    page.write_text(session_html(content, total=TOTAL, chart_name=chart.name))
    return report, chart, page


def plot_equity(curves: dict[str, list[tuple[datetime, Decimal]]], path: Path, *, title: str) -> None:
    """The total as a thick line over each strategy's thin one, as steps: PnL holds until the next event."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import dates

    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    if curves.get(TOTAL):
        end = curves[TOTAL][-1][0]
        for name, curve in sorted(curves.items(), key=lambda item: item[0] == TOTAL):
            points = [*curve, (end, curve[-1][1])]  # each line runs to the session's end
            times = dates.date2num([at for at, _ in points])  # type: ignore[no-untyped-call]
            values = [float(value) for _, value in points]  # float for drawing only
            total = name == TOTAL
            axes.step(times, values, where="post", linewidth=2.0 if total else 1.0,
                      color="black" if total else None, label=name)  # fmt: skip
        axes.axhline(0, color="grey", linewidth=0.6)
        axes.xaxis.set_major_formatter(dates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no fills", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_xlabel("market time (UTC)")
    axes.set_ylabel("equity change, net of fees (USDT)")
    axes.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
