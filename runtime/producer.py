"""The signed, idempotent producer of every publisher outside the agents (CLI, replay, API, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from runtime.clients import kafka_options
from runtime.settings import Settings
from schemas import CODEC, Event
from schemas.signing import keyring
from topics import Topics


@dataclass(frozen=True)
class Sent:
    event: Event
    topic: str
    partition: int
    offset: int


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
