"""Batch stages: how every agent consumes — a batch at a time, never a broker round trip per event.

A stage takes what its consumer has fetched (at most `batch_max_records`, without waiting when records are
there), decodes it, applies the events in offset order to in-memory state through the agent's pure
handler, publishes every output without waiting for each, waits for the acknowledgements once, writes one
changelog record per changed key, waits again, then commits. So an output is always acknowledged before
the state that records it, and the state before the offset that passes it.

Copies are dropped without a window of ids in every state value: each key's record carries, per input
topic, the offset of the last event applied to it (the key's partition is fixed, so an offset says
exactly what the key has seen: a redelivery after a crash between the state write and the commit is
skipped); and a bounded window of the event ids applied on each source partition, rebuilt on assignment
by reading the partition back, drops what an upstream stage published again after its own crash (same ids
at new offsets). Both are bounded by configuration, not by history.

Each stage has its own consumer in the agents' consumer group (so `zvt worker`s share partitions stage by
stage); the stages of a worker share one producer (each has a transactional one in exactly-once mode). The
Faust app starts and stops them (`StageService`) and its web monitor shows them (`/zvt/stages/`). Faust's
own per-event stream delivery is not used: it cost 0.1-0.2 ms per event, more than the work of most events
here (docs/agents.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import BaseModel

from agents.faults import CrashPoint, crash_if_asked
from agents.outbox import Outbox
from agents.settings import Guarantee, get_agent_settings
from runtime.clients import kafka_options
from runtime.metrics import BATCH_EVENTS, BATCH_SECONDS, DEAD_LETTERS, EVENTS
from runtime.settings import get_settings
from schemas import CODEC, Event, EventDecodeError
from schemas.signing import KeyRing, SignatureError, keyring, signature_in, verified_event
from topics import Topics
from topics.dead_letter import DeadLetter, DeadLetterReason
from topics.registry import KafkaTopic, stage_group

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class Item:
    """One decoded input record."""

    topic: KafkaTopic
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    event: Event


class RecentKeys:
    """The last `capacity` keys (event ids, order ids) seen on one source partition, oldest dropped."""

    __slots__ = ("_order", "_set", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[str] = deque()
        self._set: set[str] = set()

    def add(self, key: str) -> None:
        if key in self._set:
            return
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())

    def __contains__(self, key: object) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._order)


@dataclass(slots=True)
class Stored(Generic[M]):
    """A key's state and, per input topic, the offset of the last event applied to it."""

    offsets: dict[str, int]
    value: M


class StateStore(Generic[M]):
    """A stage's state per key, per partition, in memory; its changelog topic holds the last record of each
    key, read back when a worker is assigned the partition."""

    def __init__(self, model: type[M], changelog: KafkaTopic) -> None:
        self.model = model
        self.changelog = changelog
        self.partitions: dict[int, dict[str, Stored[M]]] = {}
        self._serializer = model.__pydantic_serializer__

    def get(self, partition: int, key: str) -> Stored[M] | None:
        return self.partitions.get(partition, {}).get(key)

    def encode(self, stored: Stored[M]) -> bytes:
        value = self._serializer.to_json(stored.value)
        return b'{"offsets":' + orjson.dumps(stored.offsets) + b',"value":' + value + b"}"

    def decode(self, data: bytes) -> Stored[M]:
        raw = orjson.loads(data)
        return Stored(dict(raw["offsets"]), self.model.model_validate(raw["value"]))

    def items(self) -> Iterable[tuple[str, M]]:
        for states in self.partitions.values():
            for key, stored in states.items():
                yield key, stored.value


class Batch(Generic[M]):
    """What a stage's handler works with for one batch: state reads and writes, outputs, parking."""

    def __init__(self, stage: Stage[M], outbox: Outbox) -> None:
        self._stage = stage
        self._outbox = outbox
        self.changed: dict[tuple[int, str], Stored[M]] = {}
        self.parked: list[Item] = []
        self._undo: list[tuple[tuple[int, str], Stored[M] | None]] = []  # the current item's puts
        self._parked_lanes: set[str] = set()
        self._lane_items: dict[str, list[Item]] = {}
        self.kept_back = False  # the current item was kept back by the handler (`keep_back`)

    def _stored(self, item: Item, key: str) -> Stored[M] | None:
        found = self.changed.get((item.partition, key))
        if found is None and self._stage.store is not None:
            found = self._stage.store.get(item.partition, key)
        return found

    def get(self, item: Item, key: str) -> M | None:
        """The state of `key`, which lives on `item`'s partition, as this batch left it so far."""
        stored = self._stored(item, key)
        return stored.value if stored is not None else None

    def offset_of(self, item: Item, key: str) -> int:
        """The offset of `item`'s topic that `key`'s state records as applied (-1: none)."""
        stored = self._stored(item, key)
        return stored.offsets.get(item.topic.name, -1) if stored is not None else -1

    def applied(self, item: Item, key: str | None = None) -> bool:
        """Whether `item` was applied before: at or below `key`'s offset of its topic, or its event id among
        those recently applied on its partition (an upstream redo: the same event at a new offset)."""
        if key is not None:
            stored = self._stored(item, key)
            if stored is not None and item.offset <= stored.offsets.get(item.topic.name, -1):
                return True
        window = self._stage.windows.get((item.topic.name, item.partition))
        return window is not None and str(item.event.event_id) in window

    def put(self, item: Item, key: str, value: M) -> None:
        """Set `key`'s state, recording that `item` has been applied to it."""
        before = self._stored(item, key)
        offsets = dict(before.offsets) if before is not None else {}
        offsets[item.topic.name] = item.offset
        slot = (item.partition, key)
        self._undo.append((slot, self.changed.get(slot)))
        self.changed[slot] = Stored(offsets, value)

    def put_kept(self, partition: int, key: str, value: M) -> None:
        """Set `key`'s state on `partition` with the offsets it already records: a change no input made
        (a stage's `settle` hook: what waited long enough is released)."""
        before = self.changed.get((partition, key))
        if before is None and self._stage.store is not None:
            before = self._stage.store.get(partition, key)
        self.changed[(partition, key)] = Stored(dict(before.offsets) if before else {}, value)

    def _begin_item(self) -> None:
        self._undo.clear()

    def _undo_item(self) -> None:
        """Forget the current item's puts: it failed half way."""
        for slot, previous in reversed(self._undo):
            if previous is None:
                self.changed.pop(slot, None)
            else:
                self.changed[slot] = previous
        self._undo.clear()

    def publish(self, events: Iterable[Event]) -> None:
        """Queue `events` for their registry topics, keyed by the registry's key, signed; sent with the
        batch."""
        prefix = self._stage.prefix
        ring = keyring()
        for event in events:
            topic = _topic_of(type(event))
            value = CODEC.encode(event)
            self._outbox.add(
                topic.full_name(prefix),
                topic.key_for(event),
                value,
                partitions=topic.partitions,
                partition=topic.partition_of(event),
                headers=ring.headers(value),
            )

    def park(self, item: Item, lane: str | None = None) -> None:
        """Hold `item` back: it is handed to the handler again with the next batch, before the new records,
        and its partition is committed no further than it. `lane` (an account) names what must wait with it:
        `is_parked(lane)` is true for the rest of the batch. Parked under several lanes, it is held once."""
        if not self.parked or self.parked[-1] is not item:
            self.parked.append(item)
        if lane is not None:
            self._parked_lanes.add(lane)
            self._lane_items.setdefault(lane, []).append(item)

    def is_parked(self, lane: str) -> bool:
        return lane in self._parked_lanes

    def unpark(self, lane: str) -> list[Item]:
        """Take back what was parked in `lane` in this batch (what it waited for came in the same batch),
        in order; the lane is free again. The handler handles them now (and may park them again)."""
        items = self._lane_items.pop(lane, [])
        self._parked_lanes.discard(lane)
        if items:
            taken = {id(item) for item in items}
            self.parked = [item for item in self.parked if id(item) not in taken]
        return items

    def keep_back(self) -> None:
        """The current item is not applied yet but kept by the handler (behind a parked one of its
        lane): not counted as applied on its partition; the handler calls `remember` once it is."""
        self.kept_back = True

    def remember(self, item: Item) -> None:
        """Count `item` as applied on its partition (the stage does this for what its handler took; an
        item handled again after `unpark` is counted here)."""
        self._stage.remember(item)

    def dead_letter(self, item: Item, reason: DeadLetterReason, error: str) -> None:
        stage = self._stage
        stage.dead_letter(
            self._outbox, item.topic, item.partition, item.offset, item.key, item.value, reason, error
        )


def has_backlog(consumer: AIOKafkaConsumer | None, taken: Mapping[TopicPartition, int]) -> bool:
    """Whether an assigned partition's end, as its last fetch saw it, is past the next offset `taken`."""
    if consumer is None:
        return False
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is not None and taken.get(tp, 0) < end:
            return True
    return False


def offsets_to_commit(
    next_offsets: Mapping[TopicPartition, int],
    parked: Iterable[tuple[str, int, int]],
    committed: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Each partition's commit: up to its first parked record (topic, partition, offset), else past its
    last fetched one; only where that moved since the last commit."""
    held: dict[TopicPartition, int] = {}
    for topic, partition, offset in parked:
        tp = TopicPartition(topic, partition)
        held[tp] = min(held.get(tp, offset), offset)
    wanted = {tp: held.get(tp, next_offset) for tp, next_offset in next_offsets.items()}
    return {tp: offset for tp, offset in wanted.items() if committed.get(tp) != offset}


_topics_of_events: dict[type[Event], KafkaTopic] = {}


def _topic_of(event_type: type[Event]) -> KafkaTopic:
    topic = _topics_of_events.get(event_type)
    if topic is None:
        topic = _topics_of_events[event_type] = Topics.for_event(event_type)
    return topic


Handler = Callable[[Item, Batch[M]], None]


@dataclass
class StageStats:
    """What the web monitor shows of a stage."""

    batches: int = 0
    events: int = 0
    published: int = 0
    dead_lettered: int = 0
    parked: int = 0
    stale_fetches: int = 0  # records fetched before a rebalance and left to the new assignment to read again
    rebalances: int = 0
    last_batch_ms: float = 0.0
    max_records: int = 0
    assigned: list[str] = field(default_factory=list)


class Stage(Generic[M]):
    """One agent as a batch stage: its inputs, its pure handler and (optionally) keyed state."""

    def __init__(
        self,
        name: str,
        inputs: Mapping[KafkaTopic, tuple[type[Event], ...]],
        handle: Handler[M],
        *,
        state: type[M] | None = None,
        changelog: KafkaTopic | None = None,
        window_keys: Callable[[Event], Iterable[str]] | None = None,
        dedupe: bool = True,
        ready: Callable[[], Awaitable[None]] | None = None,
        prepare: Callable[[list[Item], Batch[M]], Awaitable[None]] | None = None,
        on_assigned: Callable[[set[TopicPartition]], Awaitable[None]] | None = None,
        settle: Callable[[Batch[M]], None] | None = None,
        settling: Callable[[], bool] | None = None,
    ) -> None:
        if (state is None) != (changelog is None):
            raise ValueError(f"{name}: a stage with state names its changelog, and only then")
        self.name = name
        self.inputs = dict(inputs)
        self.handle = handle
        self.store: StateStore[M] | None = StateStore(state, changelog) if state and changelog else None
        self.window_keys = window_keys
        self.dedupe = dedupe
        self.ready = ready
        self.prepare = prepare
        self.on_assigned = on_assigned
        # After every batch's events, `settle` may release what waited long enough for input that does
        # not come (a quiet venue); while `settling()` says something waits, a batch runs without records.
        self.settle = settle
        self.settling = settling
        self.windows: dict[tuple[str, int], RecentKeys] = {}
        self.parked: list[Item] = []
        self.stats = StageStats()
        self.consumer: AIOKafkaConsumer | None = None
        settings = get_settings()
        self.bootstrap = settings.kafka_bootstrap
        self.kafka = kafka_options(settings)
        self.prefix = settings.topic_prefix
        self.group = f"{self.prefix}{stage_group(name)}"  # a topic two stages read: one has its own
        agent_settings = get_agent_settings()
        self.exactly_once = agent_settings.processing_guarantee is Guarantee.EXACTLY_ONCE
        self.window_capacity = agent_settings.dedupe_window
        self.max_records = agent_settings.batch_max_records
        self.budget_seconds = agent_settings.batch_budget_ms / 1000
        self.commit_interval = agent_settings.commit_interval_seconds
        self._last_commit = float("-inf")  # monotonic; never yet
        # Moving average of the work per event, which sizes the next batch to the budget; until measured,
        # a guess near an order's cost (a first batch of thousands would take a second).
        self._seconds_per_event = 100e-6
        self._by_name = {topic.full_name(self.prefix): topic for topic in self.inputs}
        self._lock = asyncio.Lock()
        self._next_offsets: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._kept: dict[int, dict[str, Stored[M]]] = {}  # state of revoked partitions, until reassigned
        self._kept_windows: dict[tuple[str, int], RecentKeys] = {}
        self._tails: deque[_Tail] = deque()  # batches whose acknowledgements, state or commit are pending
        self._stopping = False
        self.generation = 0  # rebalances seen (revocations)

    # --- lifecycle -----------------------------------------------------------------------------------

    async def run(self) -> None:
        isolation = "read_committed" if self.exactly_once else "read_uncommitted"
        if self.exactly_once:  # a transaction per batch: a producer of the stage's own
            producer = _producer(
                self.kafka,
                transactional_id=f"{self.group}.{self.name}.{socket.gethostname()}.{os.getpid()}",
            )
            await producer.start()
        else:
            producer = await SHARED_PRODUCER.acquire(self.kafka)
        consumer = AIOKafkaConsumer(
            **self.kafka,
            group_id=self.group,
            client_id=f"{self.group}.{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=isolation,
            # Co-partitioned inputs (orders by account) must come to one member together: range assigns
            # partition p of every topic a member subscribes to alike.
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=300_000,
            fetch_max_wait_ms=100,
        )
        self._reader = AIOKafkaConsumer(
            **self.kafka,
            enable_auto_commit=False,
            group_id=None,
            isolation_level=isolation,
        )
        await self._reader.start()
        await consumer.start()
        self.producer, self.consumer = producer, consumer
        try:
            if self.ready is not None:
                await self.ready()
            consumer.subscribe(list(self._by_name), listener=_Listener(self))
            while not self._stopping:
                limit = self._batch_limit()
                fetched_in = self.generation
                records = await consumer.getmany(timeout_ms=5 if self.parked else 100, max_records=limit)
                if not records and not self.parked and not (self.settling and self.settling()):
                    continue
                async with self._lock:
                    taken = await self._take(records, fetched_in, consumer)
                    if taken is not None:
                        await self._process(taken)
        finally:
            await self._drain(raise_errors=False)
            await consumer.stop()
            await self._reader.stop()
            if self.exactly_once:
                await producer.stop()
            else:
                await SHARED_PRODUCER.release()

    def stop(self) -> None:
        self._stopping = True

    async def _take(
        self, records: Mapping[TopicPartition, list[Any]], fetched_in: int, consumer: AIOKafkaConsumer
    ) -> dict[TopicPartition, list[Any]] | None:
        """What of a fetch this stage applies: the records of partitions still assigned (one revoked while
        this task waited for the lock is its next owner's), or None when a rebalance came between the
        fetch and the lock. Records fetched before it lie past the parked records the rebalance dropped
        from memory: applied now, even on a partition that came straight back, they would go before
        those, record offsets past them in their keys' state (which then skips them as copies) and commit
        past them. Records the new assignment handed out already are behind its consumed position. Either
        way the partitions they came from are read again from their commit, in order."""
        assignment = consumer.assignment()
        if fetched_in == self.generation:
            return {tp: fetched for tp, fetched in records.items() if tp in assignment}
        stale = sum(len(fetched) for fetched in records.values())
        self.stats.stale_fetches += stale
        again = [tp for tp in records if tp in assignment]
        if again:
            committed = await consumer.seek_to_committed(*again)
            never = [tp for tp, offset in committed.items() if not offset]  # aiokafka seeks only past 0
            if never:
                await consumer.seek_to_beginning(*never)
        log.info("%s: %d records fetched before a rebalance, read again from the commit", self.name, stale)
        return None

    def behind(self) -> bool:
        """Whether a partition of this stage has records its last fetch saw but the stage has not taken."""
        return has_backlog(self.consumer, self._next_offsets)

    async def emit(self, build: Callable[[], Iterable[Event]]) -> None:
        """Publish what `build` returns — events no input caused (a timer's) — between batches: built from
        the state as the last batch left it (built before waiting for the batch, a re-mark could publish
        a position older than the fill it follows), acknowledged before this returns."""
        async with self._lock:
            await self._drain()
            outbox = Outbox(self.producer)
            batch: Batch[M] = Batch(self, outbox)
            batch.publish(build())
            if not outbox.records:
                return
            if self.exactly_once:
                await self.producer.begin_transaction()
            try:
                await outbox.flush()
            except BaseException:
                if self.exactly_once:
                    await self.producer.abort_transaction()
                raise
            if self.exactly_once:
                await self.producer.commit_transaction()

    def _batch_limit(self) -> int:
        """As many records as the budget allows at the recent cost per event (at least 16)."""
        return max(16, min(self.max_records, int(self.budget_seconds / self._seconds_per_event)))

    # --- one batch -----------------------------------------------------------------------------------

    async def _process(self, records: Mapping[TopicPartition, list[Any]]) -> None:
        """Decode and apply one batch, send its outputs, then hand the rest (acknowledgements, state,
        commit) to the batch's tail, which runs while the next batch is applied: outputs before state
        before commit, batch after batch, but the stage does not sit idle through the round trips."""
        started = time.perf_counter()
        outbox = Outbox(self.producer)
        batch: Batch[M] = Batch(self, outbox)
        work = self.parked
        self.parked = []
        ring = keyring()
        for tp, fetched in records.items():
            topic = self._by_name[tp.topic]
            accepted = self.inputs[topic]
            for record in fetched:
                self._next_offsets[tp] = record.offset + 1
                item = self._decode(outbox, topic, tp.partition, record, accepted, ring)
                if item is not None:
                    work.append(item)
        if self.exactly_once:
            await self._drain()  # one transaction at a time
            await self.producer.begin_transaction()
        try:
            waited = 0.0
            if self.prepare is not None:  # may read from the broker (the market data rebuild): not work
                prepared_from = time.perf_counter()
                await self.prepare(work, batch)
                waited = time.perf_counter() - prepared_from
            for item in work:
                self._apply(item, batch)
            if self.settle is not None:
                self._settle(batch)
            self.parked = batch.parked
            worked = time.perf_counter() - started - waited  # the budget counts work, not broker waits
            if self.store is not None:  # the next batch reads this state; the tail writes its changelog
                for (partition, key), stored in batch.changed.items():
                    self.store.partitions.setdefault(partition, {})[key] = stored
            parked = [(i.topic.full_name(self.prefix), i.partition, i.offset) for i in self.parked]
            offsets = offsets_to_commit(self._next_offsets, parked, self._committed)
            self._committed.update(offsets)
            outputs = outbox.records
            acks = await outbox.send()
            await self._reap()
            tail = _Tail(self._tails[-1] if self._tails else None)
            finish = self._finish(acks, batch.changed, offsets, started, tail)
            if self.exactly_once:
                await finish
            else:
                tail.future = asyncio.ensure_future(finish)
                self._tails.append(tail)
        except BaseException:
            if self.exactly_once:
                await self.producer.abort_transaction()
            raise
        handled = len(work) - len(self.parked)
        if work:
            cost = worked / len(work)
            self._seconds_per_event = 0.8 * self._seconds_per_event + 0.2 * cost
        stats = self.stats
        stats.batches += 1
        stats.events += handled
        stats.published += outputs
        stats.parked = len(self.parked)
        stats.max_records = self._batch_limit()
        EVENTS.labels(self.name, "handled").inc(handled)
        BATCH_EVENTS.labels(self.name).observe(len(work))

    async def _reap(self) -> None:
        """Forget finished tails (a failed one fails the stage); wait while `PIPELINE_DEPTH` are pending."""
        while self._tails and (self._tails[0].future.done() or len(self._tails) >= PIPELINE_DEPTH):
            await self._tails.popleft().future

    async def _drain(self, *, raise_errors: bool = True) -> None:
        """Wait for every pending tail."""
        tails, self._tails = list(self._tails), deque()
        results = await asyncio.gather(*(t.future for t in tails), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed and raise_errors:
            raise failed[0]

    async def _finish(
        self,
        acks: list[asyncio.Future[Any]],
        changed: Mapping[tuple[int, str], Stored[M]],
        offsets: dict[TopicPartition, int],
        started: float,
        tail: _Tail,
    ) -> None:
        """A batch's tail: its outputs acknowledged, then one changelog record per changed key (sent after
        the previous batch's, acknowledged), then its offsets committed (after the previous batch's). Up
        to `PIPELINE_DEPTH` batches' tails are pending at once, while the stage applies the next."""
        previous = tail.previous
        try:
            if acks:
                await asyncio.gather(*acks)
            if previous is not None:
                await previous.state_sent.wait()
            state_acks: list[asyncio.Future[Any]] = []
            if self.store is not None and changed:
                crash_if_asked(self.name, CrashPoint.AFTER_OUTPUTS)
                outbox = Outbox(self.producer)
                changelog = self.store.changelog.full_name(self.prefix)
                encode = self.store.encode
                for (partition, key), stored in changed.items():
                    outbox.add(changelog, key.encode(), encode(stored), partition=partition)
                state_acks = await outbox.send()
        finally:
            tail.state_sent.set()
            tail.previous = None  # a chain of finished tails is not kept alive
        if state_acks:
            await asyncio.gather(*state_acks)
            crash_if_asked(self.name, CrashPoint.AFTER_STATE)
        if previous is not None:
            await previous.future  # commits in order; a failed batch before fails this one
        if self.exactly_once:  # the offsets commit with the outputs and state, in one transaction
            if offsets:
                await self.producer.send_offsets_to_transaction(offsets, self.group)
            await self.producer.commit_transaction()
        else:
            await self._commit(tail, {**tail.carried, **offsets})
        elapsed = time.perf_counter() - started
        self.stats.last_batch_ms = elapsed * 1000
        BATCH_SECONDS.labels(self.name).observe(elapsed)

    async def _commit(self, tail: _Tail, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets`, or leave them to the next batch's tail when one is pending and the last
        commit is younger than `commit_interval_seconds`: at a burst, commit requests (one per batch)
        took a third of the worker's time in requests to the broker. What a later commit covers is redone
        only after a crash, and every redo is dropped as a copy; the last pending batch always commits."""
        if not offsets:
            return
        now = time.monotonic()
        if tail.next is not None and now - self._last_commit < self.commit_interval:
            tail.next.carried.update(offsets)
            return
        assert self.consumer is not None
        self._last_commit = now
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took the partition: its next owner starts from the last commit, and each
            # key's recorded offsets skip what was applied since.
            log.info("%s: commit of %d partitions refused: %s", self.name, len(offsets), exc)

    def _decode(
        self,
        outbox: Outbox,
        topic: KafkaTopic,
        partition: int,
        record: Any,
        accepted: tuple[type[Event], ...],
        ring: KeyRing,
    ) -> Item | None:
        """The record's event, verified and decoded; None when it went to the dead letters instead."""
        value = record.value or b""
        try:
            ring.verify(value, signature_in(record.headers))
        except SignatureError as exc:
            reason = DeadLetterReason.BAD_SIGNATURE if value else DeadLetterReason.UNDECODABLE
            error = exc.reason if value else "empty message value"
            self.dead_letter(outbox, topic, partition, record.offset, record.key, value, reason, error)
            return None
        try:
            event = CODEC.decode(value)
        except EventDecodeError as exc:
            reason = DeadLetterReason.UNDECODABLE if exc.event_type is None else DeadLetterReason.INVALID
            self.dead_letter(outbox, topic, partition, record.offset, record.key, value, reason, exc.reason)
            return None
        if not isinstance(event, accepted):
            self.dead_letter(
                outbox,
                topic,
                partition,
                record.offset,
                record.key,
                value,
                DeadLetterReason.UNEXPECTED_TYPE,
                f"{event.event_type} does not belong on {topic.full_name(self.prefix)}",
            )
            return None
        return Item(topic, partition, record.offset, record.key, value, event)

    def _apply(self, item: Item, batch: Batch[M]) -> None:
        parked_before = len(batch.parked)
        batch.kept_back = False
        batch._begin_item()
        try:
            self.handle(item, batch)
        except Exception as exc:  # one bad event must not stop the stage; it is kept with its error
            log.exception("%s failed on %s", self.name, item.event.event_id)
            batch._undo_item()
            batch.dead_letter(item, DeadLetterReason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}")
        if len(batch.parked) == parked_before and not batch.kept_back:
            self.remember(item)

    def remember(self, item: Item) -> None:
        if self.dedupe:
            window = self.windows.get((item.topic.name, item.partition))
            if window is None:
                window = self.windows[(item.topic.name, item.partition)] = RecentKeys(self.window_capacity)
            self._remember(window, item.event)

    def _settle(self, batch: Batch[M]) -> None:
        assert self.settle is not None
        try:
            self.settle(batch)
        except Exception:  # a bug there must not stop the stage: what waits is retried next batch
            log.exception("%s: settle failed", self.name)

    def _remember(self, window: RecentKeys, event: Event) -> None:
        """Count `event` as applied on its partition: its id, and whatever else the stage keys by it."""
        window.add(str(event.event_id))
        if self.window_keys is not None:
            for key in self.window_keys(event):
                window.add(key)

    def dead_letter(
        self,
        outbox: Outbox,
        topic: KafkaTopic,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes,
        reason: DeadLetterReason,
        error: str,
    ) -> None:
        source = topic.full_name(self.prefix)
        log.warning("%s: %s at %s[%s]@%s: %s", self.name, reason, source, partition, offset, error)
        self.stats.dead_lettered += 1
        EVENTS.labels(self.name, "dead_lettered").inc()
        DEAD_LETTERS.labels(topic.name, reason.value).inc()
        target = topic.dead_letter
        if target is None:
            return
        record = DeadLetter.now(
            source_topic=source,
            partition=partition,
            offset=offset,
            consumer=self.name,
            reason=reason,
            error=error[:4000],
        )
        outbox.add(target.full_name(self.prefix), key, value, partition=0, headers=record.headers())

    # --- rebalances ----------------------------------------------------------------------------------

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            self.stats.rebalances += 1
            self.generation += 1  # what was fetched before this is not applied (`_take`)
            await self._drain(raise_errors=False)  # the batches' state and commits land first
            # Parked records are refetched from the committed offsets, wherever their partition goes.
            self.parked = []
            self._next_offsets.clear()
            self._committed.clear()
            # Kept in case the same partitions come straight back (no other owner can have written then).
            if self.store is not None:
                self._kept = self.store.partitions
                self.store.partitions = {}
            self._kept_windows, self.windows = self.windows, {}

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            partitions = {tp.partition for tp in assigned}
            self.stats.assigned = sorted(
                f"{tp.topic.removeprefix(self.prefix)}[{tp.partition}]" for tp in assigned
            )
            kept, self._kept = self._kept, {}
            kept_windows, self._kept_windows = self._kept_windows, {}
            await self._resume_from_commits(assigned)
            if self.store is not None:
                missing = partitions - set(kept)
                self.store.partitions = {p: states for p, states in kept.items() if p in partitions}
                if missing:
                    await self._recover_state(missing)
            if self.dedupe:
                for tp in assigned:
                    name = self._by_name[tp.topic].name
                    window = kept_windows.get((name, tp.partition))
                    if window is None:
                        window = await self._rebuild_window(tp)
                    self.windows[(name, tp.partition)] = window
            if self.on_assigned is not None:
                await self.on_assigned(assigned)

    async def _resume_from_commits(self, assigned: set[TopicPartition]) -> None:
        """Count each assigned partition as taken up to its commit, where the consumer resumes. Without it a
        partition with nothing new after a rebalance counted as behind by all it held (`has_backlog`, from
        offset 0) until a record came: the order stage then waited out `market_settle_max_seconds` for
        every order decided on the market, as if the feed were still on its way."""
        assert self.consumer is not None
        for tp in assigned:
            committed = await self.consumer.committed(tp)
            if committed:
                self._next_offsets[tp] = self._committed[tp] = committed

    async def _recover_state(self, partitions: set[int]) -> None:
        assert self.store is not None
        name = self.store.changelog.full_name(self.prefix)
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        started = time.perf_counter()
        records: dict[int, dict[str, bytes]] = {p: {} for p in partitions}
        async for record in self._read(tps, None, None):
            if record.key is not None and record.value is not None:
                records[record.partition][record.key.decode()] = record.value
        decode = self.store.decode
        for partition, raw in records.items():
            self.store.partitions[partition] = {key: decode(value) for key, value in raw.items()}
        log.info(
            "%s: state of partitions %s recovered: %d keys in %.2fs",
            self.name,
            sorted(partitions),
            sum(len(raw) for raw in records.values()),
            time.perf_counter() - started,
        )

    async def _rebuild_window(self, tp: TopicPartition) -> RecentKeys:
        """The ids applied last on `tp`: its records just before the committed offset."""
        assert self.consumer is not None
        window = RecentKeys(self.window_capacity)
        committed = await self.consumer.committed(tp)
        if not committed:
            return window
        async for record in self._read([tp], committed - self.window_capacity, committed):
            try:  # what the stage refused then is not counted as applied now
                event = verified_event(record.value, record.headers)
            except (SignatureError, EventDecodeError):
                continue
            self._remember(window, event)
        return window

    async def _read(self, tps: list[TopicPartition], start: int | None, end: int | None) -> Any:
        """Every record of `tps` from `start` (or the beginning) to `end` (or the current end)."""
        reader = self._reader
        reader.assign(tps)
        beginnings = await reader.beginning_offsets(tps)
        ends = await reader.end_offsets(tps)
        stops = {tp: ends[tp] if end is None else min(end, ends[tp]) for tp in tps}
        pending = set()
        for tp in tps:
            first = beginnings[tp] if start is None else max(beginnings[tp], start)
            if first < stops[tp]:
                reader.seek(tp, first)
                pending.add(tp)
        while pending:
            for tp, fetched in (await reader.getmany(*pending, timeout_ms=500, max_records=10_000)).items():
                for record in fetched:
                    if record.offset < stops[tp]:
                        yield record
            for tp in list(pending):
                if await reader.position(tp) >= stops[tp]:
                    pending.discard(tp)
        reader.assign([])


PIPELINE_DEPTH = 4  # batches applied whose acknowledgements, state or commit are still pending


class _Tail:
    """One batch's pending tail, and what the next batch's tail waits for."""

    def __init__(self, previous: _Tail | None) -> None:
        self.previous = previous
        self.next: _Tail | None = None
        if previous is not None:
            previous.next = self
        # Offsets an earlier batch left to this one to commit (commits are coalesced, see `_commit`).
        self.carried: dict[TopicPartition, int] = {}
        self.state_sent = asyncio.Event()
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # set when sent


def _producer(kafka: Mapping[str, Any], transactional_id: str | None = None) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        transactional_id=transactional_id,
        # A transaction left open by a killed worker blocks read_committed readers until it times out.
        transaction_timeout_ms=10_000,
    )


class SharedProducer:
    """One idempotent producer for every stage of a worker process (not in exactly-once mode, where each
    stage's batches are transactions of its own). The producer has one request in flight per broker, so
    what the stages publish while it is out goes in the next request together: with a producer per
    stage, the requests took a fifth of the worker's CPU at an order burst (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._producer: AIOKafkaProducer | None = None
        self._users = 0
        self._lock = asyncio.Lock()

    async def acquire(self, kafka: Mapping[str, Any]) -> AIOKafkaProducer:
        """The worker's producer (started by the first stage to ask), with `kafka`'s options."""
        async with self._lock:
            if self._producer is None:
                producer = _producer(kafka)
                await producer.start()
                self._producer = producer
            self._users += 1
            return self._producer

    async def release(self) -> None:
        async with self._lock:
            self._users -= 1
            if self._users == 0 and self._producer is not None:
                producer, self._producer = self._producer, None
                await producer.stop()


SHARED_PRODUCER = SharedProducer()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, stage: Stage[Any]) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.stage.assigned(set(assigned))


STAGES: list[Stage[Any]] = []


def register(stage: Stage[M]) -> Stage[M]:
    """Add `stage` to those the worker's app runs."""
    STAGES.append(stage)
    return stage
