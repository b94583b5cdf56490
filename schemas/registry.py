"""Event type -> model, and the upcasters that bring old stored versions up to the current schema.

An upcaster is a pure function from the raw JSON dict of version N to the raw dict of version N + 1;
chained, they let an event written years ago load into today's model without rewriting the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from schemas.base import Event

RawEvent = dict[str, Any]
Upcaster = Callable[[RawEvent], RawEvent]


class UnknownEventTypeError(LookupError):
    def __init__(self, event_type: object) -> None:
        super().__init__(f"unknown event_type {event_type!r}")
        self.event_type = event_type


class UpcastError(ValueError):
    pass


class EventRegistry:
    """Maps `event_type` strings to models; holds upcasters keyed by the version they upgrade from."""

    def __init__(self, models: Iterable[type[Event]] = ()) -> None:
        self._models: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for model in models:
            self.register(model)

    def register(self, model: type[Event]) -> type[Event]:
        if not model.EVENT_TYPE:
            raise ValueError(f"{model.__name__} has no EVENT_TYPE")
        existing = self._models.get(model.EVENT_TYPE)
        if existing is not None and existing is not model:
            raise ValueError(f"event_type {model.EVENT_TYPE!r} already registered to {existing.__name__}")
        self._models[model.EVENT_TYPE] = model
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: register the function that turns `from_version` into `from_version + 1`."""

        def decorate(func: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._upcasters:
                raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
            self._upcasters[key] = func
            return func

        return decorate

    def model_for(self, event_type: object) -> type[Event]:
        if not isinstance(event_type, str) or event_type not in self._models:
            raise UnknownEventTypeError(event_type)
        return self._models[event_type]

    def upcast(self, raw: RawEvent) -> RawEvent:
        """Apply upcasters until `raw` is at the model's current version."""
        model = self.model_for(raw.get("event_type"))
        version = raw.get("version", model.SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise UpcastError(f"must be a positive integer, got {version!r}")
        if version > model.SCHEMA_VERSION:
            raise UpcastError(f"{version} is newer than this code's {model.SCHEMA_VERSION}")
        while version < model.SCHEMA_VERSION:
            step = self._upcasters.get((model.EVENT_TYPE, version))
            if step is None:
                raise UpcastError(f"no upcaster from version {version}")
            raw = step(dict(raw))
            version += 1
            raw["version"] = version
        return raw

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._models.values())

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._models

    def __len__(self) -> int:
        return len(self._models)
