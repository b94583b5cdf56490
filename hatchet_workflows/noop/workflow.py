"""Empty workflows, the baselines of `bench.workflows`: `zvt.noop` (one task: the engine's own trigger ->
run -> result round trip) and `zvt.noop_chain` (five tasks, each the parent of the next: the shape of
place_order without its work, so the engine's share of place_order's latency is measured apart)."""

from __future__ import annotations

from datetime import timedelta

from hatchet_sdk import Context, EmptyModel
from hatchet_sdk.runnables.task import Task

from hatchet_workflows.client import hatchet

noop_workflow = hatchet.workflow(name="zvt.noop")
noop_chain_workflow = hatchet.workflow(name="zvt.noop_chain")
CHAIN_LENGTH = 5


@noop_workflow.task(execution_timeout=timedelta(seconds=5))
async def noop(_: EmptyModel, ctx: Context) -> dict[str, str]:
    return {}


async def _nothing(_: EmptyModel, ctx: Context) -> dict[str, str]:
    return {}


def _chain() -> None:
    parent: Task[EmptyModel, dict[str, str]] | None = None
    for index in range(CHAIN_LENGTH):
        parents = [parent] if parent is not None else []
        parent = noop_chain_workflow.task(
            name=f"step_{index}", parents=parents, execution_timeout=timedelta(seconds=5)
        )(_nothing)


_chain()
