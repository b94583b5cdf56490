"""Starting `portfolio.rebalance` from the command line and printing its outcome."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from hatchet_workflows.rebalance.models import RebalanceInput, RebalanceResult, pairs
from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow


def result_table(result: RebalanceResult) -> Table:
    event = result.event
    table = Table("order", "symbol", "side", "quantity", "outcome", "filled", "at", title=(
        f"rebalance {event.portfolio_id} ({event.correlation_id}): {event.status.value}"
    ))  # fmt: skip
    for outcome in (*result.outcomes, *result.compensations):
        leg, done = outcome.leg, outcome.result
        table.add_row(
            leg.order_id,
            leg.order.symbol,
            leg.order.side.value,
            str(leg.order.quantity),
            outcome.why if outcome.failed else done.outcome.value if done else "-",
            str(done.filled_quantity) if done else "-",
            str(done.average_price or "-") if done else "-",
        )
    return table


def run_and_print(console: Console, *, targets: list[str], prices: list[str], positions: list[str],
                  **fields: str) -> int:  # fmt: skip
    """`zvt workflows run rebalance`: validate, run, print; the exit code (2 bad input, 1 run failed)."""
    try:
        rebalance = RebalanceInput.model_validate(
            fields
            | {
                "target_weights": pairs(targets, "--target"),
                "prices": pairs(prices, "--price"),
                "positions": pairs(positions, "--position"),
            }
        )
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]invalid rebalance:[/red] {exc}")
        return 2
    try:
        raw = asyncio.run(rebalance_workflow.aio_run(rebalance))
    except Exception as exc:  # the run failed: its on-failure step recorded it; say why
        console.print(f"[red]rebalance failed:[/red] {exc}")
        return 1
    result = RebalanceResult.model_validate(raw[finish.name])
    console.print(result_table(result))
    return 0
