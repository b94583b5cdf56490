"""Publishing events into their input topics from the command line or a file (`zvt publish`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from schemas import CODEC, Event, EventDecodeError
from schemas.signing import keyring
from topics import Topics
from zvt.clients import kafka_options
from zvt.settings import Settings


class EventFileError(ValueError):
    """A line of an event file that is not a valid event; names the file and line."""


@dataclass(frozen=True)
class Sent:
    event: Event
    topic: str
    partition: int
    offset: int


def read_event_file(path: Path) -> Iterator[Event]:
    """Events from a JSON-lines file (one event object per line; blank lines and `#` comments skipped)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            try:
                yield CODEC.decode(stripped)
            except EventDecodeError as exc:
                raise EventFileError(f"{path}:{number}: {exc.reason}") from exc


class SignedProducer(AIOKafkaProducer):  # type: ignore[misc]
    """A producer that signs every value it sends (schemas.signing), unless given headers of its own."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        if headers is None and value is not None:
            headers = keyring().headers(value)
        future: asyncio.Future[Any] = await super().send(topic, value, key, partition, timestamp_ms, headers)
        return future


def event_producer(settings: Settings) -> SignedProducer:
    """The producer every publisher uses: idempotent, so a retried send never doubles a record; signing."""
    return SignedProducer(**kafka_options(settings), enable_idempotence=True)


async def send_event(
    producer: AIOKafkaProducer, settings: Settings, event: Event
) -> tuple[str, asyncio.Future[Any]]:
    """Queue `event`, signed, on its registry topic with the registry's key; the topic and the ack future."""
    topic = Topics.for_event(type(event))
    name = topic.full_name(settings.topic_prefix)
    value = CODEC.encode(event)
    headers = keyring().headers(value)
    return name, await producer.send(name, value, key=topic.key_for(event), headers=headers)


async def publish_events(settings: Settings, events: Iterable[Event]) -> list[Sent]:
    """Send each event to its registry topic (keyed by the registry), in order; wait for every ack."""
    producer = event_producer(settings)
    await producer.start()
    try:
        pending = [(event, *await send_event(producer, settings, event)) for event in events]
        sent = []
        for event, name, future in pending:
            metadata = await future
            sent.append(Sent(event, name, metadata.partition, metadata.offset))
        return sent
    finally:
        await producer.stop()


def event_summary(event: Event) -> str:
    data = orjson.loads(CODEC.encode(event))
    for envelope in (
        "event_id",
        "event_type",
        "version",
        "timestamp",
        "correlation_id",
        "causation_id",
        "metadata",
    ):
        data.pop(envelope, None)
    return " ".join(f"{key}={value}" for key, value in data.items() if value is not None)
