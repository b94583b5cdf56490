"""`zvt.noop`: one task that does nothing: the engine's own trigger -> run -> result round trip, the
baseline `bench.workflows` measures the real workflows against."""

from __future__ import annotations

from datetime import timedelta

from hatchet_sdk import Context, EmptyModel

from hatchet_workflows.client import hatchet

noop_workflow = hatchet.workflow(name="zvt.noop")


@noop_workflow.task(execution_timeout=timedelta(seconds=5))
async def noop(_: EmptyModel, ctx: Context) -> dict[str, str]:
    return {}
