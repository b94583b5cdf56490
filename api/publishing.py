"""Publishing what operators ask for: one signed, idempotent producer for the API's lifetime, each request
awaited until Kafka has it (the caller learns its offset, or an error, never a silent loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.producer import SignedProducer, event_producer, send_event
from runtime.settings import Settings
from schemas import Event, OrderCancelRequested


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


def cancel_request(
    order_id: str,
    account_id: str,
    *,
    strategy_id: str | None = None,
    correlation_id: Any = None,
    causation_id: Any = None,
    user: str,
) -> OrderCancelRequested:
    """The cancel of an order by an API user, in the order's chain (its correlation, caused by its latest
    event) when the store knows it: the event shape `zvt cancel` publishes (branch cancel-audit's
    `zvt.order_changes.cancel_request`, which this thin twin gives way to once that is merged)."""
    chain: dict[str, Any] = {}
    if correlation_id is not None:
        chain = {"correlation_id": correlation_id, "causation_id": causation_id}
    return OrderCancelRequested(
        order_id=order_id,
        account_id=account_id,
        strategy_id=strategy_id,
        detail=f"by {user} (zvt api)",
        metadata={"requested_by": user},
        **chain,
    )
