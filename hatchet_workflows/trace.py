"""A workflow run as `zvt trace <run id>` shows it: the run's steps with the engine's own timestamps, the
stages recorded inside a step (place_order's five, `hatchet_workflows.stages`), and the causal tree of the
events its orders made, in one tree.

The engine records, per task, when it queued it, when the worker started it and when it finished; the gap
from the parents' end to the start is the engine's (dispatch) and the run time is the step's own work. The
events are found through the correlation ids the steps returned (place_order's request, a rebalance's
plan, a monitor's assessment), so a rebalance's trace holds the events of every leg.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hatchet_sdk.clients.rest.models.v1_task_event_type import V1TaskEventType
from hatchet_sdk.clients.rest.models.v1_workflow_run_details import V1WorkflowRunDetails
from pydantic import ValidationError
from rich.markup import escape
from rich.tree import Tree

from eventstore.trace import TraceNode, add_nodes
from hatchet_workflows.stages import StageSpan

ENDED = (
    V1TaskEventType.FINISHED,
    V1TaskEventType.FAILED,
    V1TaskEventType.CANCELLED,
    V1TaskEventType.TIMED_OUT,
)


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    attempts: int
    queued_at: datetime | None  # the first time the engine queued it
    started_at: datetime | None  # the last attempt's start on a worker
    ended_at: datetime | None
    parents: tuple[str, ...]  # the names of the steps it waited for
    assigned_at: datetime | None = None  # the scheduler gave it a worker slot (last attempt)
    sent_at: datetime | None = None  # the dispatcher sent it to the worker (last attempt)
    stages: tuple[StageSpan, ...] = ()  # recorded inside the step, in the attempt that completed
    task_id: str = ""  # the engine's task (external) id
    earlier: tuple[str, ...] = ()  # what the step's earlier attempts logged (their stages), oldest first

    @property
    def ran(self) -> timedelta | None:
        return self.ended_at - self.started_at if self.started_at and self.ended_at else None


@dataclass(frozen=True)
class RunView:
    run_id: str
    workflow: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    steps: list[Step]  # in start order
    correlation_ids: list[UUID]

    def waited(self, step: Step) -> timedelta | None:
        """From the end of the step's last parent (or the run's creation) to its start: the engine's part."""
        ends = [s.ended_at for s in self.steps if s.name in step.parents and s.ended_at]
        since = max(ends) if ends else self.created_at
        return step.started_at - since if step.started_at else None


def correlations(values: Iterable[Any]) -> list[UUID]:
    """Every `correlation_id` in nested step outputs, first seen first."""
    found: dict[UUID, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "correlation_id" and isinstance(item, str):
                    with contextlib.suppress(ValueError):  # not an id: nothing to follow
                        found.setdefault(UUID(item))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for value in values:
        walk(value)
    return list(found)


def stages_of(output: Any) -> tuple[StageSpan, ...]:
    """The stage spans a task put in its output (`stages`), in start order; none if it has none."""
    raw = output.get("stages") if isinstance(output, dict) else None
    try:
        spans = [StageSpan.model_validate(item) for item in raw] if isinstance(raw, list) else []
    except ValidationError:  # another shape under that name: not ours to draw
        return ()
    return tuple(sorted(spans, key=lambda span: span.started_at))


def run_view(details: V1WorkflowRunDetails) -> RunView:
    """Pure: the steps of a run (names from its shape, times from its task events)."""
    names = {item.task_external_id: item.task_name for item in details.shape}
    step_ids = {item.task_external_id: item.step_id for item in details.shape}
    parents_of: dict[str, list[str]] = {}
    for item in details.shape:
        for child in item.children_step_ids:
            parents_of.setdefault(child, []).append(item.task_name)
    steps = []
    for task in details.tasks:
        events = sorted(
            (e for e in details.task_events if e.task_id == task.task_external_id),
            key=lambda e: (e.timestamp, e.id),
        )
        queued = [e.timestamp for e in events if e.event_type is V1TaskEventType.QUEUED]
        started = [e.timestamp for e in events if e.event_type is V1TaskEventType.STARTED]
        ended = [e.timestamp for e in events if e.event_type in ENDED]
        assigned = [e.timestamp for e in events if e.event_type is V1TaskEventType.ASSIGNED]
        sent = [e.timestamp for e in events if e.event_type is V1TaskEventType.SENT_TO_WORKER]
        steps.append(
            Step(
                name=names.get(task.task_external_id, task.display_name),
                status=task.status.value,
                attempts=max(
                    [task.attempt or 1, (task.retry_count or 0) + 1, *(e.attempt or 1 for e in events)]
                ),
                queued_at=queued[0] if queued else None,
                started_at=started[-1] if started else task.started_at,
                ended_at=ended[-1] if ended else task.finished_at,
                parents=tuple(parents_of.get(step_ids.get(task.task_external_id, ""), ())),
                assigned_at=assigned[-1] if assigned else None,
                sent_at=sent[-1] if sent else None,
                stages=stages_of(task.output),
                task_id=task.task_external_id,
            )
        )
    run = details.run
    created = run.metadata.created_at  # the trigger; `run.created_at` comes later, from the engine's buffers
    steps.sort(key=lambda s: (s.started_at is None, s.started_at or s.queued_at or created))  # unrun last
    return RunView(
        run_id=run.metadata.id,
        workflow=workflow_name(details),
        status=run.status.value,
        created_at=created,
        ended_at=run.finished_at,
        steps=steps,
        correlation_ids=correlations(task.output for task in details.tasks),
    )


def with_earlier_attempts(view: RunView, logs: dict[str, list[tuple[int, str]]]) -> RunView:
    """Pure: the view with each retried step's log lines of its attempts before the last (task id ->
    (attempt, line) as the engine keeps them): what a killed or failed attempt got done, stage by stage."""
    steps = [
        replace(
            step,
            earlier=tuple(
                f"attempt {n}: {line}" for n, line in logs.get(step.task_id, []) if n < step.attempts
            ),
        )
        if step.attempts > 1
        else step
        for step in view.steps
    ]
    return replace(view, steps=steps)


def phases(view: RunView) -> dict[str, float]:
    """Pure: where a run's time went, in ms, from the engine's task events: per step, the hop from its
    parents' end (or the trigger) to the engine queueing it, the scheduler's assignment, the dispatch to the
    worker, the worker starting it (the SDK's listener process hands it to the task) and its own run (a run
    whose engine gives no task events: the hop to its start whole, `<step> engine`); and
    each stage recorded inside a step (`<step> / <stage> stage`: part of the step's run, not added to it)."""
    found: dict[str, float] = {}

    def span(label: str, start: datetime | None, end: datetime | None) -> None:
        if start is not None and end is not None:
            found[label] = (end - start).total_seconds() * 1000

    for step in view.steps:
        ends = [s.ended_at for s in view.steps if s.name in step.parents and s.ended_at]
        since = max(ends) if ends else view.created_at
        if step.queued_at is None:  # no task events (a one-task run has none here): the engine's part whole
            span(f"{step.name} engine", since, step.started_at)
        span(f"{step.name} queued", since, step.queued_at)
        span(f"{step.name} assigned", step.queued_at, step.assigned_at)
        span(f"{step.name} sent", step.assigned_at, step.sent_at)
        span(f"{step.name} started", step.sent_at, step.started_at)
        span(f"{step.name} ran", step.started_at, step.ended_at)
        for stage in step.stages:
            span(f"{step.name} / {stage.name} stage", stage.started_at, stage.ended_at)
    return found


def workflow_name(details: V1WorkflowRunDetails) -> str:
    """The workflow's name from its configuration; else from the run's display name, `trading.place_order-
    1796322903599` -> `trading.place_order` (the engine appends a timestamp; a one-task workflow's run is
    displayed under its task's name)."""
    configured = (details.workflow_config or {}).get("Name")
    if isinstance(configured, str) and configured:
        return configured
    head, _, tail = details.run.display_name.rpartition("-")
    return head if head and tail.isdigit() else details.run.display_name


def _ms(span: timedelta | None) -> str:
    return "-" if span is None else f"{span.total_seconds() * 1000:.1f} ms"


def render_run(view: RunView, events: Sequence[TraceNode]) -> Tree:
    """The run, its steps (start, engine wait, run time) and the events of its correlations."""
    ends = [step.ended_at for step in view.steps if step.ended_at]
    took = f" in {_ms(view.ended_at - view.created_at)}" if view.ended_at else ""
    last = f" (last step ended at +{_ms(max(ends) - view.created_at)})" if ends else ""
    tree = Tree(escape(f"workflow run {view.run_id} {view.workflow}: {view.status}{took}{last}"))
    steps = tree.add(
        f"{len(view.steps)} step{'' if len(view.steps) == 1 else 's'} "
        f"(created {view.created_at.isoformat(timespec='milliseconds')})"
    )
    for step in view.steps:
        stamp = step.started_at.isoformat(timespec="milliseconds") if step.started_at else "not started"
        retried = f", {step.attempts} attempts" if step.attempts > 1 else ""
        timing = f"engine {_ms(view.waited(step))}, ran {_ms(step.ran)}{retried}"
        node = steps.add(escape(f"{stamp} {step.name} {step.status} [{timing}]"))
        for line in step.earlier:
            node.add(escape(line))
        for stage in step.stages:
            offset = stage.started_at - step.stages[0].started_at
            node.add(escape(f"+{_ms(offset)} {stage.name} {stage.outcome} [ran {_ms(stage.ran)}]"))
    count = sum(_size(node) for node in events)
    ids = ", ".join(map(str, view.correlation_ids)) or "none"
    add_nodes(tree.add(escape(f"{count} events (correlation {ids})")), events)
    return tree


def _size(node: TraceNode) -> int:
    return 1 + sum(_size(child) for child in node.children)


async def fetch_run(run_id: str) -> V1WorkflowRunDetails | None:
    """The run's details from the engine; None when it has no such run or no client is configured."""
    from hatchet_sdk.clients.rest.exceptions import NotFoundException

    from runtime.settings import get_settings

    if not get_settings().hatchet_client_token.get_secret_value():
        return None
    from hatchet_workflows.client import hatchet

    try:
        return await hatchet.runs.aio_get(run_id)
    except NotFoundException:
        return None


async def fetch_earlier_attempts(view: RunView) -> RunView:
    """`with_earlier_attempts` with the log lines of the run's retried steps, from the engine."""
    from hatchet_workflows.client import hatchet

    logs: dict[str, list[tuple[int, str]]] = {}
    for step in view.steps:
        if step.attempts > 1 and step.task_id:
            found = (await hatchet.logs.aio_list(step.task_id)).rows or []
            lines = sorted(found, key=lambda line: line.created_at)
            logs[step.task_id] = [
                (line.attempt or (line.retry_count or 0) + 1, line.message) for line in lines
            ]
    return with_earlier_attempts(view, logs)
