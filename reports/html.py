"""`session.html`: the session report as one page a person opens in a browser, beside `session.json` and
`equity.png` (which it shows). Made from the report's JSON, so an old `session.json` can be rendered too.
Static HTML with every value escaped; no script, nothing fetched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
tr.total td { font-weight: bold; }
"""

ANALYTICS_COLUMNS = (
    ("total return", "total_return"),
    ("Sharpe", "sharpe"),
    ("Sortino", "sortino"),
    ("max drawdown", "max_drawdown"),
    ("drawdown s", "max_drawdown_duration_seconds"),
    ("win rate", "win_rate"),
    ("closing fills", "closing_trades"),
    ("fills", "trades"),
    ("turnover", "turnover"),
    ("fees", "fees"),
)

PNL_KEYS = (
    "strategy_id", "account_id", "symbol", "fills", "quantity", "realized_pnl", "unrealized_pnl", "fees",
    "net_pnl",
)  # fmt: skip


def table(
    title: str, header: Sequence[str], rows: Iterable[Sequence[object]], total: str | None = None
) -> str:
    """A titled table; the row whose first cell is `total` is bold."""
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = []
    for row in rows:
        marked = ' class="total"' if total is not None and row and row[0] == total else ""
        cells = "".join(f"<td>{escape('-' if cell is None else str(cell))}</td>" for cell in row)
        body.append(f"<tr{marked}>{cells}</tr>")
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{''.join(body)}</table>"


def session_html(report: dict[str, Any], *, total: str, chart_name: str = "equity.png") -> str:
    """The page of one report (`SessionFigures.as_json()`); `total` names the row of all strategies."""
    orders = report["orders"]
    prefix = escape(str(report["topic_prefix"]).rstrip("."))
    analytics = report["analytics"]
    by_strategy = analytics["by_strategy"]
    reasons = ", ".join(f"{reason} {count}" for reason, count in orders["rejections_by_reason"].items())
    names = sorted(by_strategy, key=lambda name: (name == total, name))
    sections = [
        f"<h1>Session {prefix}</h1>",
        table(
            "Orders",
            ("requested", "filled", "canceled", "rejected", "rejections by reason"),
            [[orders[key] for key in ("requested", "filled", "canceled", "rejected")] + [reasons]],
        ),
        table(
            f"Performance (capital {analytics['capital_per_strategy']} per strategy, "
            f"returns every {analytics['period_seconds']:g} s of market time, annualised over 365 days)",
            ("strategy", *(title for title, _ in ANALYTICS_COLUMNS)),
            [(name, *(by_strategy[name][key] for _, key in ANALYTICS_COLUMNS)) for name in names],
            total=total,
        ),
        table(
            "PnL",
            ("strategy", "account", "symbol", "fills", "quantity", "realized", "unrealized", "fees", "net"),
            [[line[key] for key in PNL_KEYS] for line in report["pnl"]],
        ),
        f'<h2>Equity</h2><img src="{escape(chart_name)}" alt="net PnL over market time" width="800">',
        table(
            "Latency per step (ms)",
            ("step", "orders", "p50", "p90", "p99", "max"),
            [
                (step, values["count"], *(values.get(key) for key in ("p50", "p90", "p99", "max")))
                for step, values in report["latency_ms"].items()
            ],
        ),
    ]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Session {prefix}</title>'
        f"<style>{STYLE}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )
