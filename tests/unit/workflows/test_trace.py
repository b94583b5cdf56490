"""The pure part of a workflow run's trace: steps from the engine's run details, and where its events are."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hatchet_sdk.clients.rest.models.v1_workflow_run_details import V1WorkflowRunDetails
from rich.console import Console

from hatchet_workflows.trace import (
    correlations,
    phases,
    render_run,
    run_view,
    stages_of,
    with_earlier_attempts,
)

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())


def at(ms: float) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat()


def details(
    steps: list[tuple[str, list[str], dict[str, float], dict[str, Any]]],
    display_name: str = "ns_trading.place_order-1796323178349",
    config: dict[str, Any] | None = None,
) -> V1WorkflowRunDetails:
    """A run whose steps are (name, children, {event type: ms after T0}, output), as the engine answers."""
    ids = {name: (str(uuid.uuid4()), str(uuid.uuid4())) for name, *_ in steps}  # task id, step id
    run_id = str(uuid.uuid4())
    events: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    shape: list[dict[str, Any]] = []
    for name, children, stamps, output in steps:
        task_id, step_id = ids[name]
        shape.append({"taskExternalId": task_id, "stepId": step_id, "taskName": name,
                      "childrenStepIds": [ids[c][1] for c in children]})  # fmt: skip
        for kind, ms in stamps.items():
            events.append({"id": len(events), "taskId": task_id, "timestamp": at(ms), "eventType": kind,
                           "message": "", "attempt": 2 if kind == "RETRYING" else 1})  # fmt: skip
        tasks.append({
            "metadata": {"id": task_id, "createdAt": at(0), "updatedAt": at(0)}, "createdAt": at(0),
            "displayName": f"{name}-1796323178794", "input": {}, "numSpawnedChildren": 0, "output": output,
            "status": "COMPLETED", "taskExternalId": task_id, "taskId": len(tasks), "taskInsertedAt": at(0),
            "tenantId": TENANT, "type": "TASK", "workflowId": run_id, "workflowRunExternalId": run_id,
        })  # fmt: skip
    run = {"metadata": {"id": run_id, "createdAt": at(0), "updatedAt": at(0)}, "status": "COMPLETED",
           "createdAt": at(40), "finishedAt": at(900), "tenantId": TENANT, "workflowId": run_id, "input": {},
           "displayName": display_name, "output": {}}  # fmt: skip
    return V1WorkflowRunDetails.model_validate(
        {"run": run, "taskEvents": events, "shape": shape, "tasks": tasks, "workflowConfig": config}
    )


def chain() -> V1WorkflowRunDetails:
    correlation = "8ca141d2-0177-5651-87ed-f5405a337c5a"
    return details([
        ("update_positions", [], {"QUEUED": 300, "STARTED": 320, "FINISHED": 323}, {"outcome": "filled"}),
        ("validate_risk", ["create_order"], {"QUEUED": 20, "STARTED": 25, "FINISHED": 31},
         {"request": {"correlation_id": correlation, "metadata": {}}}),
        ("create_order", ["update_positions"],
         {"QUEUED": 100, "STARTED": 130, "RETRYING": 135, "FINISHED": 140}, {"entry_id": None}),
    ])  # fmt: skip


def test_steps_are_named_ordered_and_timed_from_their_parents_end() -> None:
    view = run_view(chain())
    assert view.workflow == "ns_trading.place_order"
    assert [s.name for s in view.steps] == ["validate_risk", "create_order", "update_positions"]
    assert [s.parents for s in view.steps] == [(), ("validate_risk",), ("create_order",)]
    assert view.created_at == T0  # the trigger, not the engine's later `createdAt`
    waited = [view.waited(s) for s in view.steps]
    assert waited == [timedelta(milliseconds=ms) for ms in (25, 99, 180)]
    assert [s.ran for s in view.steps] == [timedelta(milliseconds=ms) for ms in (6, 10, 3)]
    assert [s.attempts for s in view.steps] == [1, 2, 1]
    assert view.correlation_ids == [uuid.UUID("8ca141d2-0177-5651-87ed-f5405a337c5a")]


def test_correlations_are_found_at_any_depth_once_each_and_non_ids_skipped() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    outputs = [
        {"legs": [{"x": {"correlation_id": str(a)}}, {"correlation_id": str(b)}]},
        {"correlation_id": str(a)},
        {"correlation_id": "not-an-id"},
        {"correlation_id": None},
    ]
    assert correlations(outputs) == [a, b]


def test_the_rendered_run_puts_steps_and_events_under_one_root() -> None:
    view = run_view(chain())
    out = io.StringIO()
    Console(file=out, width=200).print(render_run(view, []))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"workflow run {view.run_id} ns_trading.place_order: COMPLETED in 900.0 ms " \
        "(last step ended at +323.0 ms)"  # fmt: skip
    assert "create_order COMPLETED [engine 99.0 ms, ran 10.0 ms, 2 attempts]" in lines[3]
    assert lines[-1].endswith("0 events (correlation 8ca141d2-0177-5651-87ed-f5405a337c5a)")


def staged() -> V1WorkflowRunDetails:
    """One task (place_order's shape) whose output records its stages, given out of order."""
    spans = [("create_order", 4, 6), ("validate_risk", 1, 3), ("execute_order", 7, 19)]
    stages = [{"name": n, "started_at": at(25 + start), "ended_at": at(25 + end)} for n, start, end in spans]
    return details([
        ("place_order", [], {"QUEUED": 20, "STARTED": 25, "FINISHED": 50},
         {"result": {"correlation_id": "8ca141d2-0177-5651-87ed-f5405a337c5a"}, "stages": stages}),
    ], display_name="place_order-1796323178349", config={"Name": "ns_trading.place_order"})  # fmt: skip


def test_stages_recorded_in_a_tasks_output_are_drawn_under_it_in_start_order() -> None:
    view = run_view(staged())
    (step,) = view.steps
    assert view.workflow == "ns_trading.place_order"  # a one-task run is displayed under its task's name
    assert [stage.name for stage in step.stages] == ["validate_risk", "create_order", "execute_order"]
    out = io.StringIO()
    Console(file=out, width=200).print(render_run(view, []))
    lines = out.getvalue().splitlines()
    assert "1 step (created" in lines[1]
    assert "place_order COMPLETED [engine 25.0 ms, ran 25.0 ms]" in lines[2]
    assert lines[3].endswith("+0.0 ms validate_risk completed [ran 2.0 ms]"), lines
    assert lines[4].endswith("+3.0 ms create_order completed [ran 2.0 ms]"), lines
    assert lines[5].endswith("+6.0 ms execute_order completed [ran 12.0 ms]"), lines
    assert len(lines[3]) - len(lines[3].lstrip(" │├└─")) > len(lines[2]) - len(lines[2].lstrip(" │├└─"))
    assert phases(view)["place_order / execute_order stage"] == 12.0


def test_an_output_without_stages_or_with_another_shape_under_the_name_draws_none() -> None:
    assert stages_of({"stages": [{"name": "x"}]}) == ()
    assert stages_of({"stages": "many"}) == ()
    assert stages_of([1, 2]) == ()
    assert run_view(chain()).steps[0].stages == ()


def test_a_run_without_task_events_is_timed_from_the_tasks_own_start_and_end() -> None:
    run = details([("place_order", [], {}, {})], display_name="place_order-1796323178349")
    run.tasks[0].started_at, run.tasks[0].finished_at = (
        T0 + timedelta(milliseconds=30),
        T0 + timedelta(milliseconds=45),
    )
    view = run_view(run)
    assert view.workflow == "place_order"  # no configuration: the display name's
    assert phases(view) == {"place_order engine": 30.0, "place_order ran": 15.0}


def test_a_retried_steps_earlier_attempts_show_what_they_logged_before_its_stages() -> None:
    view = run_view(staged())
    (step,) = view.steps
    logs = {
        step.task_id: [
            (1, "stage validate_risk completed in 1.0 ms (attempt 1)"),
            (1, "stage create_order completed in 0.5 ms (attempt 1)"),
            (2, "stage validate_risk completed in 0.9 ms (attempt 2)"),
        ]
    }
    assert with_earlier_attempts(view, logs).steps[0].earlier == ()  # one attempt: its stages say it all
    retried = with_earlier_attempts(replace(view, steps=[replace(step, attempts=2)]), logs)
    assert retried.steps[0].earlier == (
        "attempt 1: stage validate_risk completed in 1.0 ms (attempt 1)",
        "attempt 1: stage create_order completed in 0.5 ms (attempt 1)",
    )
    out = io.StringIO()
    Console(file=out, width=200).print(render_run(retried, []))
    lines = out.getvalue().splitlines()
    assert "2 attempts]" in lines[2]
    assert lines[3].endswith("attempt 1: stage validate_risk completed in 1.0 ms (attempt 1)"), lines
    assert lines[5].endswith("+0.0 ms validate_risk completed [ran 2.0 ms]"), lines
