"""`zvt.smoke`: a two-task workflow proving the engine, a worker and the event codec work together.

`decode_event` parses an encoded event the way every real workflow step will; `acknowledge` runs after
it and answers with an alert caused by that event, so the correlation chain crosses the engine.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from hatchet_sdk import Context
from pydantic import BaseModel

from hatchet_workflows.client import hatchet
from schemas import CODEC, AlertTriggered
from schemas.primitives import Severity


class SmokeInput(BaseModel):
    encoded_event: str


class DecodedEvent(BaseModel):
    event_id: UUID
    event_type: str
    correlation_id: UUID


class SmokeOutput(BaseModel):
    encoded_alert: str


smoke_workflow = hatchet.workflow(name="zvt.smoke", input_validator=SmokeInput)


@smoke_workflow.task(execution_timeout=timedelta(seconds=10), retries=1)
async def decode_event(workflow_input: SmokeInput, ctx: Context) -> DecodedEvent:
    event = CODEC.decode(workflow_input.encoded_event)
    return DecodedEvent(
        event_id=event.event_id, event_type=event.event_type, correlation_id=event.correlation_id
    )


@smoke_workflow.task(parents=[decode_event], execution_timeout=timedelta(seconds=10), retries=1)
async def acknowledge(workflow_input: SmokeInput, ctx: Context) -> SmokeOutput:
    decoded = ctx.task_output(decode_event)
    alert = AlertTriggered(
        correlation_id=decoded.correlation_id,
        causation_id=decoded.event_id,
        source="zvt.smoke",
        severity=Severity.INFO,
        message=f"workflow saw {decoded.event_type} {decoded.event_id}",
    )
    return SmokeOutput(encoded_alert=CODEC.encode(alert).decode())
