"""Publishing what operators ask for: one signed, idempotent producer for the API's lifetime, each request
awaited until Kafka has it (the caller learns its offset, or an error, never a silent loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.producer import SignedProducer, event_producer, send_event
from runtime.settings import Settings
from schemas import Event


@dataclass(frozen=True)
class Published:
    event: Event
    topic: str
    partition: int
    offset: int

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event.event_id),
            "event_type": self.event.event_type,
            "correlation_id": str(self.event.correlation_id),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: SignedProducer = event_producer(settings)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, event: Event) -> Published:
        topic, future = await send_event(self.producer, self.settings, event)
        metadata = await future
        return Published(event, topic, metadata.partition, metadata.offset)
