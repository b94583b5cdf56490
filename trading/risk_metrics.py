"""Portfolio risk from positions and recent prices: exposure, drawdown and historical VaR, and the limits on
them. Pure: the risk monitor workflow gathers the numbers, this decides.

Historical VaR (simulation): every past step's price returns applied to today's positions give one
hypothetical PnL; VaR at confidence c is the loss that only a fraction 1 - c of those steps exceeded (the
empirical quantile, lower order statistic, so the figure never understates the loss it names).
Drawdown is measured on the same history: the portfolio's value at each step, holding today's positions,
against its running peak.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from trading.config import MonitorLimits

ZERO = Decimal(0)


class RiskFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    gross_exposure: Decimal
    net_exposure: Decimal
    drawdown: Decimal
    var: Decimal
    observations: int  # PnL scenarios behind the VaR


class Breach(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    limit: Decimal
    observed: Decimal


def exposures(positions: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> tuple[Decimal, Decimal]:
    """(gross, net) exposure at `prices`."""
    gross = sum((abs(q) * prices[s] for s, q in positions.items()), ZERO)
    net = sum((q * prices[s] for s, q in positions.items()), ZERO)
    return gross, net


def _aligned(positions: Mapping[str, Decimal], history: Mapping[str, Sequence[Decimal]]) -> int:
    held = [s for s, q in positions.items() if q]
    missing = sorted(s for s in held if not history.get(s))
    if missing:
        raise ValueError(f"no price history for held {missing}")
    lengths = {len(history[s]) for s in held}
    if len(lengths) > 1:
        raise ValueError(f"price histories differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def drawdown(positions: Mapping[str, Decimal], history: Mapping[str, Sequence[Decimal]]) -> Decimal:
    """How far the value of today's positions now sits below its peak over `history` (oldest first)."""
    steps = _aligned(positions, history)
    values = [sum((q * history[s][i] for s, q in positions.items() if q), ZERO) for i in range(steps)]
    return max(values) - values[-1] if values else ZERO


def scenario_pnls(
    positions: Mapping[str, Decimal], history: Mapping[str, Sequence[Decimal]]
) -> list[Decimal]:
    """One PnL per past step: today's value of each position moved by that step's return."""
    steps = _aligned(positions, history)
    return [
        sum(
            (q * history[s][-1] * (history[s][i] / history[s][i - 1] - 1) for s, q in positions.items() if q),
            ZERO,
        )
        for i in range(1, steps)
    ]


def historical_var(pnls: Sequence[Decimal], confidence: Decimal) -> Decimal:
    """The loss exceeded in only 1 - confidence of the scenarios (0 without any, or when none lose)."""
    if not pnls:
        return ZERO
    ordered = sorted(pnls)
    index = math.floor((1 - confidence) * len(ordered))
    return max(ZERO, -ordered[min(index, len(ordered) - 1)])


def assess(
    positions: Mapping[str, Decimal], history: Mapping[str, Sequence[Decimal]], limits: MonitorLimits
) -> tuple[RiskFigures, list[Breach]]:
    """Figures at the last prices of `history`, and every limit they cross."""
    last = {s: history[s][-1] for s, q in positions.items() if q and history.get(s)}
    held = {s: q for s, q in positions.items() if q}
    gross, net = exposures(held, last) if len(last) == len(held) else (ZERO, ZERO)
    pnls = scenario_pnls(held, history)
    figures = RiskFigures(
        gross_exposure=gross,
        net_exposure=net,
        drawdown=drawdown(held, history),
        var=historical_var(pnls, limits.var_confidence),
        observations=len(pnls),
    )
    checks = {
        "gross_exposure": (figures.gross_exposure, limits.max_gross_exposure),
        "drawdown": (figures.drawdown, limits.max_drawdown),
        "historical_var": (figures.var, limits.max_var),
    }
    breaches = [Breach(rule=r, limit=lim, observed=obs) for r, (obs, lim) in checks.items() if obs > lim]
    return figures, breaches
