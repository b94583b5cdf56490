"""Runtime controls (docs/controls.md): kill switches, strategy halts, an account's limits, the state.

A change is a signed control command on `control.commands`, naming the risk officer who gave it and why;
every agent worker applies it as soon as it reads it. Risk officers change; viewers and traders read the
state; traders may not change it (403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import Reader, require
from api.deps import PublisherDep
from api.tokens import Permission, User
from runtime.controls import read_control_log
from schemas import AccountLimitsSet, ControlCommand, KillSwitchSet, LimitName, StrategyHaltSet
from schemas.controls import Reason
from schemas.primitives import Identifier

router = APIRouter(tags=["controls"])
Controller = Annotated[User, Depends(require(Permission.CONTROL))]
IdentifierPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


class Why(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="Why: stored with the command, shown with the state.")


class KillSwitch(Why):
    engaged: bool = Field(description="true: every new order refused `kill_switch`; false: released.")
    account_id: Identifier | None = Field(None, description="One account's switch; empty: the global one.")


class Limits(Why):
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Limits to set, as decimal strings ({', '.join(LimitName)}); counts whole.",
    )
    reset: list[str] = Field(default_factory=list, description="Limits given back to their configured value.")


class CommandAccepted(BaseModel):
    """What was published: Kafka has it; every worker applies it once it has read it."""

    event_id: str
    event_type: str
    correlation_id: str
    topic: str
    partition: int
    offset: int
    scope: str


async def _issue(
    publisher: PublisherDep, kind: type[ControlCommand], user: User, body: Why, **fields: Any
) -> dict[str, Any]:
    """The command by `user` for the body's reason, published; a 422 that says what is wrong with it (an
    unknown limit, a value not above 0, ...) and nothing published."""
    try:
        command = kind(issued_by=user.name, reason=body.reason, **fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    published = await publisher.publish(command)
    return published.as_json() | {"scope": command.scope}


@router.post("/controls/kill-switch", status_code=202, response_model=CommandAccepted)
async def kill_switch(body: KillSwitch, user: Controller, publisher: PublisherDep) -> dict[str, Any]:
    """Engage or release the global kill switch, or one account's."""
    return await _issue(
        publisher, KillSwitchSet, user, body, engaged=body.engaged, account_id=body.account_id
    )


@router.post("/controls/strategies/{strategy_id}/halt", status_code=202, response_model=CommandAccepted)
async def halt_strategy(
    strategy_id: IdentifierPath, body: Why, user: Controller, publisher: PublisherDep
) -> dict[str, Any]:
    """Halt a strategy: it decides on no more prices, so it sends no orders, until resumed."""
    return await _issue(publisher, StrategyHaltSet, user, body, strategy_id=strategy_id, halted=True)


@router.post("/controls/strategies/{strategy_id}/resume", status_code=202, response_model=CommandAccepted)
async def resume_strategy(
    strategy_id: IdentifierPath, body: Why, user: Controller, publisher: PublisherDep
) -> dict[str, Any]:
    """Resume a halted strategy, from the next price on."""
    return await _issue(publisher, StrategyHaltSet, user, body, strategy_id=strategy_id, halted=False)


@router.post("/controls/accounts/{account_id}/limits", status_code=202, response_model=CommandAccepted)
async def set_limits(
    account_id: IdentifierPath, body: Limits, user: Controller, publisher: PublisherDep
) -> dict[str, Any]:
    """Change some of an account's risk limits at runtime, or reset them to the configured value."""
    fields = {"account_id": account_id, "limits": body.limits, "reset": tuple(body.reset)}
    return await _issue(publisher, AccountLimitsSet, user, body, **fields)


@router.get("/controls")
async def control_state(_: Reader, request: Request) -> dict[str, Any]:
    """The control state every worker applies once it has read the topic's end as of now: each switch and
    runtime limit with who set it, why and when, and the records refused (unsigned or invalid)."""
    found = await read_control_log(request.app.state.publisher.settings)
    return {
        **found.state.model_dump(mode="json"),
        "end_offsets": found.end_offsets,
        "refused": found.refused,
    }
