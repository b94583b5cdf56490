"""The Faust app every agent registers on, its topics (from the registry) and its state codec.

One module-level app, as in Faust's own examples; agent modules import it and are imported explicitly by
`agents.worker` (no autodiscovery), so `zvt worker --agents risk,router` runs exactly those two.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import faust
import orjson
from faust.serializers.codecs import Codec
from faust.streams import current_event
from faust.transport.drivers.aiokafka import Producer as FaustProducer
from faust.types import TableT, TransportT
from pydantic import BaseModel, TypeAdapter

from agents.kafka_transport import GaplessTransport
from agents.settings import Guarantee, get_agent_settings
from topics.registry import AGENTS_GROUP, KafkaTopic
from zvt.settings import REPO_ROOT, get_settings

settings = get_settings()
agent_settings = get_agent_settings()
# Faust's per-app data directory goes under the run directory, not wherever the worker was started;
# Faust creates only the last level of it.
FAUST_DIR = Path(os.environ.get("ZVT_RUN_DIR", REPO_ROOT / ".run")) / "faust"
FAUST_DIR.mkdir(parents=True, exist_ok=True)


class App(faust.App):
    """Faust's app on the transport that never commits past a fetched but undelivered message."""

    def _new_transport(self) -> TransportT:
        # The consumer reads `in_transaction` itself: Faust caches the app's, False until a worker starts.
        return GaplessTransport(self.conf.broker_consumer, self)


app = App(
    f"{settings.topic_prefix}{AGENTS_GROUP}",
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    datadir=str(FAUST_DIR / "{conf.id}"),
    processing_guarantee=(
        "exactly_once" if agent_settings.processing_guarantee is Guarantee.EXACTLY_ONCE else "at_least_once"
    ),
    broker_commit_interval=agent_settings.commit_interval_seconds,
    topic_replication_factor=1,
    topic_partitions=6,
    consumer_auto_offset_reset="earliest",
    web_host=agent_settings.web_host,
    web_bind=agent_settings.web_host,
    web_port=agent_settings.web_port,
    web_in_thread=False,
    producer_acks=-1,
    # aiokafka keeps one request in flight per broker, so a record batch is what one round trip carries: a
    # price's thousand strategy slots (~250 KB) fit one, where the 16 KiB default took a round trip each.
    producer_max_batch_size=512 * 1024,
    # A worker killed without leaving the group hands its partitions over after this long.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
    # Do not hold a rebalance or shutdown until in-flight events are acknowledged: an unacknowledged event is
    # simply processed again by the next owner, and the agents drop what they already applied.
    stream_wait_empty=False,
    # Bounds a worker's memory at about this many buffered events per agent.
    stream_buffer_maxsize=65_536,
)

M = TypeVar("M", bound=BaseModel)


class ModelCodec(Codec, Generic[M]):
    """Table values as orjson-encoded pydantic models: Decimals stay exact through the changelog."""

    def __init__(self, model: type[M]) -> None:
        super().__init__(model=model)
        self.model = model
        self.adapter = TypeAdapter(model)

    def _dumps(self, value: Any) -> bytes:
        return self.adapter.dump_json(value)

    def _loads(self, data: bytes) -> M:
        return self.model.model_validate(orjson.loads(data))


def faust_topic(*topics: KafkaTopic) -> faust.TopicT:
    """The Faust channel over one registry topic, or several co-partitioned ones; bytes in, bytes out."""
    return app.topic(
        *(topic.full_name(settings.topic_prefix) for topic in topics),
        key_serializer="raw",
        value_serializer="raw",
        partitions=topics[0].partitions,
    )


async def send_batched(topic: str, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Send `records` (key, value) to one partition and wait until the broker acknowledged them all.

    Through aiokafka's batch API, one future per record batch: sent one by one, a thousand records per event
    cost more than the event's own work (a future and a sensor call each, and a wait whenever a batch filled).
    """
    producer = cast(FaustProducer, app.producer)._ensure_producer()  # Faust's wrapper has no batch API
    acks = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start the next
            acks.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
    if batch.record_count():
        acks.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*acks)


class StateTable(Generic[M]):
    """One agent's state per key in a Faust table, typed.

    Faust recovers table values from the changelog with its own codecs, so after a restart a value may come
    back as the JSON object our codec wrote; `get` turns it into the model again.
    """

    def __init__(self, name: str, model: type[M], partitions: int = 6) -> None:
        self.model = model
        self.table: TableT[str, Any] = app.Table(name, partitions=partitions)
        # Faust derives serializers from faust Records only; set ours before the changelog topic is made.
        self.table.key_serializer = "json"  # type: ignore[attr-defined]
        self.codec = ModelCodec(model)
        self.table.value_serializer = self.codec  # type: ignore[attr-defined]

    def get(self, key: str) -> M | None:
        # From the store itself: the table's own get also calls every sensor, per key.
        value = self.table.data.get(key)
        if value is None or isinstance(value, self.model):
            return value
        return self.model.model_validate(value)

    async def put(self, key: str, value: M) -> None:
        """Store `value` under `key`, in the partition of the event being processed."""
        await self.put_many(((key, value),))

    async def put_many(self, items: Sequence[tuple[str, M]]) -> None:
        """Store every `(key, value)`, in the partition of the event being processed.

        Idempotent mode writes the changelog records itself and waits for the broker, instead of Faust's
        buffered changelog send (the buffer was the one part of Faust in every stalled worker seen here):
        all records go out in as few record batches as fit (`send_batched`). Exactly-once mode goes through
        Faust, so the writes join the open transaction.
        """
        if agent_settings.processing_guarantee is Guarantee.EXACTLY_ONCE:
            for key, value in items:
                self.table[key] = value
            return
        event = current_event()
        if event is None:
            raise RuntimeError(
                f"{self.table.name}: state is written while handling an event, not outside one"
            )
        dumps = self.codec.adapter.dump_json
        await send_batched(
            self.table.changelog_topic.get_topic_name(),
            event.message.partition,
            [(orjson.dumps(key), dumps(value)) for key, value in items],
        )
        self.table.data.update(items)

    def items(self) -> list[tuple[str, M]]:
        return [(key, value) for key in list(self.table.keys()) if (value := self.get(key)) is not None]


def state_table(name: str, model: type[M], partitions: int = 6) -> StateTable[M]:
    return StateTable(name, model, partitions)
