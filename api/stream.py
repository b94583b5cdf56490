"""The WebSocket stream: fills, positions, breaches and alerts as the pipeline publishes them, and the
control commands as the risk officers give them (every subscriber of `controls` gets each, whatever its
account: a global switch concerns every account, and the dashboard reloads the whole state on each).

One Kafka reader per API process (no consumer group: it commits nothing, and every API process sees every
event), positioned at the end of its topics when the API starts, reading committed transactions only (the
agents publish in transactions). Each record's signature is verified before anything reads it
(`schemas.signing.verified_event`); one that fails is not streamed, counted and logged (the sink
dead-letters it in the event store). Each connection has a bounded queue: a client too slow to keep up is
disconnected (close code 1013) rather than silently losing events or slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from api.metrics import STREAM_CLIENTS, STREAM_EVENTS
from runtime.clients import kafka_options
from runtime.settings import Settings
from schemas import EventDecodeError
from schemas.signing import SignatureError, verified_event
from topics import Topics
from topics.registry import KafkaTopic

log = logging.getLogger(__name__)

CHANNELS: dict[str, KafkaTopic] = {
    "fills": Topics.ORDERS_EXECUTED,
    "positions": Topics.POSITIONS,
    "breaches": Topics.RISK_BREACHES,
    "alerts": Topics.ALERTS,
    "controls": Topics.CONTROL_COMMANDS,
}
# Channels streamed to every subscriber of them, whichever account it narrowed the stream to.
EVERY_ACCOUNT = frozenset({"controls"})
QUEUE_LENGTH = 1000


@dataclass(eq=False)
class Subscriber:
    channels: frozenset[str]
    account_id: str | None
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LENGTH))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, channel: str, account_id: str | None) -> bool:
        return channel in self.channels and (
            self.account_id is None or channel in EVERY_ACCOUNT or account_id in (None, self.account_id)
        )

    def offer(self, message: bytes) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()


class StreamHub:
    """Reads the channels' topics and hands each verified event to every subscriber that wants it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = {topic.full_name(settings.topic_prefix): name for name, topic in CHANNELS.items()}
        self.subscribers: set[Subscriber] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
        )
        await consumer.start()
        # Without a group, a subscription is every partition of the topics, assigned once their metadata
        # is in (a topic that does not exist: never, hence the timeout).
        consumer.subscribe(list(self.topics))
        try:
            async with asyncio.timeout(30):
                # aiokafka assigns in a task of its own, with no event to wait on
                while {tp.topic for tp in consumer.assignment()} != self.topics.keys():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            await consumer.stop()
            missing = sorted(self.topics)
            raise RuntimeError(f"topics {missing} not all found: run `zvt topics create`") from None
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end now: what is published after startup is streamed
            await consumer.position(partition)
        self._consumer = consumer
        self._task = asyncio.create_task(self._pump(consumer), name="api-stream")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _pump(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            if not self.subscribers:
                continue  # nobody to stream to: nothing to verify or decode (positions stay at the end)
            for records in batches.values():
                for record in records:
                    channel = self.topics[record.topic]
                    try:
                        event = verified_event(record.value, record.headers)
                    except (SignatureError, EventDecodeError) as exc:
                        STREAM_EVENTS.labels(channel, "refused").inc()
                        log.warning("%s@%s not streamed: %s", record.topic, record.offset, exc)
                        continue
                    STREAM_EVENTS.labels(channel, "streamed").inc()
                    self.publish(channel, getattr(event, "account_id", None), record.value)

    def publish(self, channel: str, account_id: str | None, value: bytes) -> None:
        """Hand one event (its JSON as published) to the subscribers that want it."""
        message = b'{"channel":"' + channel.encode() + b'","event":' + value + b"}"
        for subscriber in self.subscribers:
            if subscriber.wants(channel, account_id):
                subscriber.offer(message)

    @contextlib.contextmanager
    def subscribed(self, subscriber: Subscriber) -> Iterator[Subscriber]:
        self.subscribers.add(subscriber)
        STREAM_CLIENTS.inc()
        try:
            yield subscriber
        finally:
            self.subscribers.discard(subscriber)
            STREAM_CLIENTS.dec()
