"""Old stored events still load: upcasters chain from the stored version to the current schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import orjson
import pytest

from schemas import EventCodec, EventDecodeError, EventRegistry
from schemas.base import Event
from schemas.primitives import Quantity, Symbol


class FillRecorded(Event):
    """A test event at schema version 3; v1 had `qty`, v2 had `size` as a number and no `symbol`."""

    EVENT_TYPE = "test.fill_recorded"
    SCHEMA_VERSION: ClassVar[int] = 3

    symbol: Symbol
    quantity: Quantity


def make_codec() -> EventCodec:
    registry = EventRegistry([FillRecorded])

    @registry.upcaster("test.fill_recorded", from_version=1)
    def rename_qty(raw: dict[str, Any]) -> dict[str, Any]:
        raw["size"] = raw.pop("qty")
        return raw

    @registry.upcaster("test.fill_recorded", from_version=2)
    def size_to_quantity_with_symbol(raw: dict[str, Any]) -> dict[str, Any]:
        raw["quantity"] = str(raw.pop("size"))
        raw.setdefault("symbol", "BTC/USDT")
        return raw

    return EventCodec(registry)


def stored(version: int, **fields: Any) -> bytes:
    return orjson.dumps(
        {
            "event_id": "6f1c4a4e-8f0e-4a57-9b7a-0d7c1f2e3a4b",
            "event_type": "test.fill_recorded",
            "timestamp": "2021-01-08T00:00:00Z",
            "version": version,
            **fields,
        }
    )


def test_version_1_is_upcast_through_every_step() -> None:
    event = make_codec().decode(stored(1, qty="0.25"))
    assert isinstance(event, FillRecorded)
    assert event.version == 3
    assert event.quantity == Decimal("0.25")
    assert event.symbol == "BTC/USDT"


def test_current_version_is_untouched() -> None:
    codec = make_codec()
    event = codec.decode(stored(3, symbol="ETH/USDT", quantity="2"))
    assert event == codec.decode(codec.encode(event))
    assert isinstance(event, FillRecorded)
    assert event.symbol == "ETH/USDT"


def test_missing_upcaster_is_a_clear_error() -> None:
    registry = EventRegistry([FillRecorded])
    with pytest.raises(EventDecodeError, match="version: no upcaster from version 1") as caught:
        EventCodec(registry).decode(stored(1, qty="1"))
    assert caught.value.fields == ("version",)


def test_version_from_the_future_is_refused() -> None:
    with pytest.raises(EventDecodeError, match="version: 4 is newer than this code's 3"):
        make_codec().decode(stored(4, symbol="BTC/USDT", quantity="1"))


def test_upcast_result_is_still_validated() -> None:
    with pytest.raises(EventDecodeError, match="quantity: Input should be greater than 0"):
        make_codec().decode(stored(1, qty="-1"))


def test_registry_refuses_duplicates() -> None:
    registry = EventRegistry([FillRecorded])

    class Impostor(Event):
        EVENT_TYPE = "test.fill_recorded"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor)
    registry.upcaster("test.fill_recorded", 1)(lambda raw: raw)
    with pytest.raises(ValueError, match="already registered"):
        registry.upcaster("test.fill_recorded", 1)(lambda raw: raw)
