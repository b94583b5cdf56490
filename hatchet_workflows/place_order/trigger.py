"""Starting `trading.place_order` runs and reading their result (the CLI, tests and the benchmark)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from hatchet_workflows.client import hatchet
from hatchet_workflows.place_order.models import RUN_TIMEOUT, PlacedOrder, PlaceOrderInput, PlaceOrderResult
from hatchet_workflows.place_order.workflow import place_order_task, place_order_workflow


class RunTimedOutError(TimeoutError):
    pass


async def place_order(order: PlaceOrderInput, budget: timedelta = RUN_TIMEOUT) -> PlaceOrderResult:
    """Run the workflow to its end; a run past `budget` is cancelled, so it cannot act later unseen."""
    return (await place_order_run(order, budget)).result


async def place_order_run(order: PlaceOrderInput, budget: timedelta = RUN_TIMEOUT) -> PlacedOrder:
    """`place_order` with the whole task output (each stage's product and span)."""
    ref = await place_order_workflow.aio_run(order, wait_for_result=False)
    try:
        async with asyncio.timeout(budget.total_seconds()):
            result = await ref.aio_result()
    except TimeoutError:
        await hatchet.runs.aio_cancel(ref.workflow_run_id)
        raise RunTimedOutError(
            f"place_order run {ref.workflow_run_id} unfinished after {budget}; cancelled"
        ) from None
    return PlacedOrder.model_validate(result[place_order_task.name])


def result_table(result: PlaceOrderResult) -> Table:
    table = Table("field", "value", title=f"order {result.order_id}: {result.outcome.value}")
    position = result.position
    rows = {
        "correlation id": str(result.correlation_id),
        "filled": f"{result.filled_quantity} at {result.average_price or '-'}",
        "fees": str(result.fees),
        "fills": ", ".join(result.fill_ids) or "-",
        "reason": result.reason or "-",
        "position": f"{position.quantity} at {position.average_cost}",
        "realized PnL": str(position.realized_pnl),
        "unrealized PnL": f"{result.unrealized_pnl} (mark {result.mark_price or '-'})",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


def run_and_print(console: Console, **fields: str | None) -> int:
    """`zvt workflows run place-order`: validate, run, print; the exit code (2 bad input, 1 run failed)."""
    try:
        order = PlaceOrderInput.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        console.print(f"[red]invalid order:[/red] {exc}")
        return 2
    try:
        result = asyncio.run(place_order(order))
    except Exception as exc:  # the run failed or timed out: say why
        console.print(f"[red]place_order failed:[/red] {exc}")
        return 1
    console.print(result_table(result))
    return 0
