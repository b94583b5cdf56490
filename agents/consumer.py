"""What every agent does around its own logic: decode, dead-letter what it cannot use, publish results.

A message that is not an event, fails its schema, does not belong on the topic, or makes the handler
raise goes to the source topic's dead-letter topic (original key and bytes, reason in headers) and the
agent carries on with the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import faust

from agents.app import app, faust_topic, settings
from agents.settings import Guarantee, get_agent_settings
from schemas import CODEC, Event, EventDecodeError
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import KafkaTopic
from zvt.metrics import DEAD_LETTERS, EVENTS, HANDLER_SECONDS

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]

_by_name: dict[str, KafkaTopic] = {topic.full_name(settings.topic_prefix): topic for topic in Topics.all()}
_channels: dict[str, faust.TopicT] = {}
_topic_of_event: dict[type[Event], KafkaTopic] = {}


def _channel(topic: KafkaTopic) -> faust.TopicT:
    channel = _channels.get(topic.name)
    if channel is None:
        channel = _channels[topic.name] = faust_topic(topic)
    return channel


async def publish(events: Sequence[Event], *, durable: bool = True) -> None:
    """Send `events` to their registry topics, keyed by the registry's key.

    With `durable` (and the idempotent guarantee) this waits until Kafka acknowledged every one, so the
    state write that follows can never be recovered without its outputs having been published.
    """
    futures: list[Awaitable[Any]] = []
    idempotent = get_agent_settings().processing_guarantee is Guarantee.IDEMPOTENT
    for event in events:
        topic = _topic_of_event.get(type(event))
        if topic is None:
            topic = _topic_of_event[type(event)] = Topics.for_event(type(event))
        futures.append(
            await _send(topic, topic.key_for(event), CODEC.encode(event), None, idempotent=idempotent)
        )
    if durable and idempotent and futures:
        await asyncio.gather(*futures)


async def _send(
    topic: KafkaTopic,
    key: bytes | None,
    value: bytes,
    headers: list[tuple[str, bytes]] | None,
    *,
    idempotent: bool,
) -> Awaitable[Any]:
    """Idempotent mode sends straight through the producer (its future is the broker's ack); exactly-once
    goes through Faust's channel, so the send joins the open transaction."""
    if idempotent:
        return cast(
            Awaitable[Any],
            await app.producer.send(topic.full_name(settings.topic_prefix), key, value, None, None, headers),
        )
    return cast(Awaitable[Any], await _channel(topic).send(key=key, value=value, headers=headers))


async def dead_letter(
    message: faust.types.Message, consumer: str, reason: DeadLetterReason, error: str
) -> None:
    source = _by_name.get(message.topic)
    target = source.dead_letter if source is not None else None
    if target is None:
        log.error("no dead-letter topic for %s; dropping offset %s: %s", message.topic, message.offset, error)
        return
    record = DeadLetter.now(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        consumer=consumer,
        reason=reason,
        error=error[:4000],
    )
    log.warning(
        "%s: %s at %s[%s]@%s: %s", consumer, reason, message.topic, message.partition, message.offset, error
    )
    EVENTS.labels(consumer, "dead_lettered").inc()
    DEAD_LETTERS.labels(source.name if source is not None else message.topic, reason.value).inc()
    idempotent = get_agent_settings().processing_guarantee is Guarantee.IDEMPOTENT
    sent = await _send(target, message.key, message.value or b"", record.headers(), idempotent=idempotent)
    if idempotent:
        await sent


async def consume(
    stream: faust.StreamT[bytes],
    consumer: str,
    accepts: Mapping[KafkaTopic, tuple[type[Event], ...]],
    handler: Handler,
    before_first: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run `handler` on every valid event of `stream`; dead-letter everything else."""
    allowed = {topic.full_name(settings.topic_prefix): types for topic, types in accepts.items()}
    started = before_first is None
    async for record in stream.events():
        if not started and before_first is not None:
            await before_first()
            started = True
        message = record.message
        try:
            if record.value is None:
                raise EventDecodeError("empty message value")
            event = CODEC.decode(record.value)
        except EventDecodeError as exc:
            reason = DeadLetterReason.UNDECODABLE if exc.event_type is None else DeadLetterReason.INVALID
            await dead_letter(message, consumer, reason, exc.reason)
            continue
        if not isinstance(event, allowed.get(message.topic, ())):
            await dead_letter(
                message,
                consumer,
                DeadLetterReason.UNEXPECTED_TYPE,
                f"{event.event_type} does not belong on {message.topic}",
            )
            continue
        handling_since = time.perf_counter()
        try:
            await handler(event)
            EVENTS.labels(consumer, "handled").inc()
        except Exception as exc:  # one bad event must not stop the agent; it is kept with its error
            log.exception("%s failed on %s", consumer, event.event_id)
            await dead_letter(
                message, consumer, DeadLetterReason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"
            )
        finally:
            HANDLER_SECONDS.labels(consumer).observe(time.perf_counter() - handling_since)


__all__ = ["app", "consume", "dead_letter", "publish"]
