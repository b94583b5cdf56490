"""The envelope every event shares: identity, time, causality and schema version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

E = TypeVar("E", bound="Event")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of all events; concrete events set `EVENT_TYPE` and, when their shape changes, `SCHEMA_VERSION`.

    `correlation_id` groups every event of one order flow or workflow run (a root event correlates to
    itself); `causation_id` names the event that directly caused this one. `version` is the schema version
    the event was written with; older stored versions are upcast before validation (`schemas.registry`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    EVENT_TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str = ""  # filled from EVENT_TYPE
    timestamp: AwareDatetime = Field(default_factory=utc_now)
    # A root event starts its own correlation. (If event_id failed validation the placeholder never escapes.)
    correlation_id: UUID = Field(default_factory=lambda data: data.get("event_id") or uuid4())
    causation_id: UUID | None = None
    version: int = 0  # filled from SCHEMA_VERSION
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_type_and_version(cls, data: Any) -> Any:
        if not cls.EVENT_TYPE:
            raise TypeError(f"{cls.__name__} is abstract: construct a concrete event type")
        if isinstance(data, dict):
            data = {"event_type": cls.EVENT_TYPE, "version": cls.SCHEMA_VERSION, **data}
        return data

    @model_validator(mode="after")
    def _check_envelope(self) -> Self:
        cls = type(self)
        if self.event_type != cls.EVENT_TYPE:
            raise ValueError(
                f"event_type must be {cls.EVENT_TYPE!r} for {cls.__name__}, got {self.event_type!r}"
            )
        if self.version != cls.SCHEMA_VERSION:
            raise ValueError(
                f"version {self.version} of {cls.EVENT_TYPE} must be upcast to {cls.SCHEMA_VERSION} first"
            )
        return self

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def caused(self, event_cls: type[E], **fields: Any) -> E:
        """Build an event caused by this one: same correlation, causation pointing here."""
        fields.setdefault("correlation_id", self.correlation_id)
        fields.setdefault("causation_id", self.event_id)
        return event_cls(**fields)
