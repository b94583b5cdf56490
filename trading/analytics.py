"""Performance analytics of one strategy or account: the figures traders judge a strategy by.

Pure and exact: Decimal throughout (square roots by `Decimal.sqrt` in a 28-digit context), no clock. The
input is an equity curve in market time (net PnL after each event: `reports.session.equity_curves`)
and the fills behind it; returns are taken on a regular grid of `period` (the last value at or before each
grid point, a step function as the curve is), relative to `capital` plus the PnL so far, so a strategy's
figures do not depend on how many prices happened to move it.

- Sharpe: mean / sample standard deviation of the period returns, annualised by sqrt(periods per year)
  (a 365-day year: crypto trades every day); no risk-free rate.
- Sortino: mean / downside deviation (root mean square of the returns below zero, over all periods).
- Max drawdown: the largest fall from a peak of equity (capital + PnL), as a fraction of that peak, and
  its duration: from the peak to the recovery of it, or to the end when it never recovered.
- Win rate: of the fills that closed (part of) a position in their symbol, the share whose realized PnL,
  net of that fill's fee, was positive.
- Turnover: the fills' traded notional over the capital. Fees: their sum.
A figure that needs more than the curve holds (a standard deviation of one return, a Sortino with no
downside) is None, never a made-up number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from itertools import pairwise

from schemas.primitives import Side
from trading.positions import Position

ZERO = Decimal(0)
YEAR = timedelta(days=365)
MICROSECOND = timedelta(microseconds=1)
PRECISION = Context(prec=28)


@dataclass(frozen=True)
class Basis:
    """What returns are taken on: each strategy's capital, and the period of the returns' grid."""

    capital: Decimal = Decimal(10000)
    period: timedelta = timedelta(seconds=1)


@dataclass(frozen=True)
class Trade:
    """One fill as the analytics need it."""

    holding: str  # the position it moves: a symbol (strategy and symbol when strategies are summed)
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True)
class Drawdown:
    depth: Decimal  # fraction of the peak, 0 .. 1
    peak_at: datetime | None
    trough_at: datetime | None
    duration: timedelta  # peak to recovery, or to the end of the curve


@dataclass(frozen=True)
class Performance:
    periods: int  # returns on the grid
    period: timedelta
    total_return: Decimal  # final equity over capital, minus one
    mean_return: Decimal | None
    sharpe: Decimal | None  # annualised
    sortino: Decimal | None  # annualised
    max_drawdown: Drawdown
    trades: int  # fills
    closing_trades: int
    win_rate: Decimal | None
    turnover: Decimal
    fees: Decimal

    def as_json(self) -> dict[str, object]:
        def text(value: Decimal | None, places: int = 6) -> str | None:
            return None if value is None else str(round(value, places))

        drawdown = self.max_drawdown
        return {
            "periods": self.periods,
            "period_seconds": self.period.total_seconds(),
            "total_return": text(self.total_return, 8),
            "mean_return": text(self.mean_return, 10),
            "sharpe": text(self.sharpe, 4),
            "sortino": text(self.sortino, 4),
            "max_drawdown": text(drawdown.depth, 8),
            "max_drawdown_duration_seconds": drawdown.duration.total_seconds(),
            "max_drawdown_peak_at": None if drawdown.peak_at is None else drawdown.peak_at.isoformat(),
            "max_drawdown_trough_at": None if drawdown.trough_at is None else drawdown.trough_at.isoformat(),
            "trades": self.trades,
            "closing_trades": self.closing_trades,
            "win_rate": text(self.win_rate, 4),
            "turnover": text(self.turnover, 6),
            "fees": str(self.fees),
        }


def sampled(
    curve: Sequence[tuple[datetime, Decimal]],
    period: timedelta,
    end: datetime | None = None,
    start: datetime | None = None,
) -> list[tuple[datetime, Decimal]]:
    """The curve's value at `start` (its first point by default) and every `period` after it, through
    `end` (its last point by default): the last value at or before each time, zero before its first."""
    if not curve:
        return []
    if period <= timedelta(0):
        raise ValueError(f"period must be positive, got {period}")
    at, stop = min(start or curve[0][0], curve[0][0]), end or curve[-1][0]
    out: list[tuple[datetime, Decimal]] = []
    index, value = 0, ZERO
    while at <= stop:
        while index < len(curve) and curve[index][0] <= at:
            value = curve[index][1]
            index += 1
        out.append((at, value))
        at += period
    if out[-1][0] < stop:  # the end, between grid points: its value counts
        while index < len(curve) and curve[index][0] <= stop:
            value = curve[index][1]
            index += 1
        out.append((stop, value))
    return out


def period_returns(equity: Sequence[Decimal]) -> list[Decimal]:
    """Simple returns between consecutive equity values (a value at or below zero ends the series: a
    return on nothing is not defined)."""
    out = []
    for before, after in pairwise(equity):
        if before <= 0:
            break
        out.append(PRECISION.divide(after - before, before))
    return out


def max_drawdown(points: Sequence[tuple[datetime, Decimal]]) -> Drawdown:
    """The deepest peak-to-trough fall of equity, as a fraction of the peak, with its duration."""
    worst = Drawdown(ZERO, None, None, timedelta(0))
    if not points:
        return worst
    peak_at, peak = points[0]
    trough_at: datetime | None = None
    depth_here = ZERO
    for at, value in points:
        if value >= peak:
            if depth_here > 0:
                worst = _deeper(worst, Drawdown(depth_here, peak_at, trough_at, at - peak_at))
            peak_at, peak, depth_here, trough_at = at, value, ZERO, None
            continue
        depth = PRECISION.divide(peak - value, peak) if peak > 0 else Decimal(1)
        if depth > depth_here:
            depth_here, trough_at = depth, at
    if depth_here > 0:  # never recovered: it lasts to the end
        worst = _deeper(worst, Drawdown(depth_here, peak_at, trough_at, points[-1][0] - peak_at))
    return worst


def _deeper(a: Drawdown, b: Drawdown) -> Drawdown:
    return b if b.depth > a.depth else a


def _mean(values: Sequence[Decimal]) -> Decimal:
    return PRECISION.divide(sum(values, ZERO), Decimal(len(values)))


def performance(
    curve: Sequence[tuple[datetime, Decimal]],
    trades: Iterable[Trade],
    *,
    capital: Decimal,
    period: timedelta,
    end: datetime | None = None,
    start: datetime | None = None,
) -> Performance:
    """The figures of one equity curve (net PnL over market time) and its fills, on `capital`, over
    `start` .. `end` (a session's first and last market time: a strategy idle at first counts as flat)."""
    if capital <= 0:
        raise ValueError(f"capital must be positive, got {capital}")
    points = [(at, capital + pnl) for at, pnl in sampled(curve, period, end, start)]
    equity = [value for _, value in points]
    returns = period_returns(equity)
    scale = PRECISION.divide(Decimal(YEAR // MICROSECOND), Decimal(period // MICROSECOND)).sqrt(PRECISION)
    mean = _mean(returns) if returns else None
    sharpe = sortino = None
    if mean is not None and len(returns) > 1:
        variance = PRECISION.divide(sum(((r - mean) ** 2 for r in returns), ZERO), Decimal(len(returns) - 1))
        if variance > 0:
            sharpe = PRECISION.divide(mean, variance.sqrt(PRECISION)) * scale
        downside = _mean([min(r, ZERO) ** 2 for r in returns])
        if downside > 0:
            sortino = PRECISION.divide(mean, downside.sqrt(PRECISION)) * scale
    fills = list(trades)
    positions: dict[str, Position] = {}
    wins, closing, traded, fees = 0, 0, ZERO, ZERO
    for fill in fills:
        position = positions.get(fill.holding, Position())
        held = position.quantity
        after = position.apply_fill(fill.side, fill.quantity, fill.price, fill.fee)
        if held != 0 and (held > 0) != (fill.side is Side.BUY):  # it closed some of what was held
            closing += 1
            wins += after.realized_pnl - position.realized_pnl - fill.fee > 0
        positions[fill.holding] = after
        traded += fill.quantity * fill.price
        fees += fill.fee
    final = equity[-1] if equity else capital
    return Performance(
        periods=len(returns),
        period=period,
        total_return=PRECISION.divide(final - capital, capital),
        mean_return=mean,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown(points),
        trades=len(fills),
        closing_trades=closing,
        win_rate=PRECISION.divide(Decimal(wins), Decimal(closing)) if closing else None,
        turnover=PRECISION.divide(traded, capital),
        fees=fees,
    )
