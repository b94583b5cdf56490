"""Where a place_order run's time goes, from the engine's own task events (`hatchet_workflows.trace.phases`)
and the caller's clock, over runs one after another (`python -m bench.workflows --only breakdown`).

Per task (place_order has one now, of five stages): its parents' end -> queued (the engine handles the
finished task and creates the next, through its PostgreSQL message queue), queued -> assigned (scheduler),
assigned -> sent (dispatcher), sent -> started (the worker: the SDK's action-listener process hands it to
the task), started -> ended (the task); a run whose engine gives no task events (a one-task run) has the
hop to the task's start whole instead (`<task> engine`). Inside the task, each stage's own time
(`place_order / <stage> stage`, from the spans the task records). Around them: trigger -> the run's
creation, the last step's end -> the caller holding the result. And the order's own round trip: the
create_order stage's Redis entry (its id is the publish time) -> the fill's timestamp (bridge, Kafka, the
risk, router and execution agents, the paper venue). One clock: everything runs here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from rich.table import Table

from reports.session import percentile

WARM = 3  # runs first, not counted: connections and listeners warm up
ENGINE = "engine: trigger, queueing between steps, scheduling, dispatch"
WORKER = "worker: the SDK hands the task over"
STEPS = "the task's own work (its stages; route_exchange, execute_order: waiting for the agents)"
CALLER = "result back to the caller"
TRIGGER = "trigger -> run created"
RESULT = "last step ended -> caller has the result"
ROUND_TRIP = "order: Redis publish -> fill (bridge, Kafka, agents; inside the steps and hops above)"


def group_of(label: str) -> str | None:
    """Which of the few numbers a phase adds to (the order's round trip overlaps them: none)."""
    last = label.split()[-1]
    if label == TRIGGER or last in ("queued", "assigned", "sent", "engine"):
        return ENGINE
    return {"started": WORKER, "ran": STEPS}.get(last) or (CALLER if label == RESULT else None)


def _ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


async def measure_breakdown(count: int) -> tuple[dict[str, float], dict[str, float]]:
    """Medians (ms) over `count` runs: each phase, and the groups of phases (`GROUPS`) with the total."""
    from hatchet_workflows.client import hatchet
    from hatchet_workflows.place_order.models import PlacedOrder, PlaceOrderInput
    from hatchet_workflows.place_order.workflow import place_order_task, place_order_workflow
    from hatchet_workflows.trace import phases, run_view

    done = []
    for i in range(WARM + count):
        order_id = f"bench-bd-{uuid.uuid4().hex[:12]}"
        order = PlaceOrderInput(account_id=f"acct-bd-{i % 8}", symbol="BTC/USDT", side="buy",
                                quantity=Decimal("0.001"), order_id=order_id)  # fmt: skip
        triggered = datetime.now(UTC)
        ref = await place_order_workflow.aio_run(order, wait_for_result=False)
        result = await ref.aio_result()
        done.append((ref.workflow_run_id, triggered, datetime.now(UTC), result))
    await asyncio.sleep(3)  # the engine writes its task events through buffers
    samples: dict[str, list[float]] = defaultdict(list)
    grouped: dict[str, list[float]] = defaultdict(list)
    for run_id, triggered, returned, result in done[WARM:]:
        view = run_view(await hatchet.runs.aio_get(run_id))
        found = phases(view)
        found[TRIGGER] = _ms(triggered, view.created_at)
        last = max(step.ended_at for step in view.steps if step.ended_at)
        found[RESULT] = _ms(last, returned)
        placed = PlacedOrder.model_validate(result[place_order_task.name])
        published = int((placed.sent.entry_id or "0").split("-")[0])
        fill = placed.executed.fills[-1]
        found[ROUND_TRIP] = fill.timestamp.timestamp() * 1000 - published
        sums: dict[str, float] = defaultdict(float)
        for label, value in found.items():
            samples[label].append(value)
            if (group := group_of(label)) is not None:
                sums[group] += value
        for group in (ENGINE, WORKER, STEPS, CALLER):
            grouped[group].append(sums[group])
        grouped["total, as the caller measures it"].append(_ms(triggered, returned))
    medians = {label: percentile(values, 50) for label, values in samples.items()}
    return medians, {group: percentile(values, 50) for group, values in grouped.items()}


def breakdown_table(count: int, phases: dict[str, float], groups: dict[str, float]) -> Table:
    table = Table("phase", "p50 (ms)", title=f"Where place_order's time goes: {count} runs one after another")
    for label, value in phases.items():
        table.add_row(label, f"{value:.1f}")
    table.add_section()
    for label, value in groups.items():
        table.add_row(label, f"{value:.1f}")
    return table
