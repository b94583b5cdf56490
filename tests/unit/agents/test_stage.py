"""The batch stage's bookkeeping, without a broker: what counts as applied, what a failed item leaves
behind, what a parked item holds back, how state records round-trip, and where records are partitioned."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any
from uuid import uuid4

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from agents.outbox import partition_for
from agents.stage import (
    Batch,
    Item,
    RecentKeys,
    Stage,
    StateStore,
    Stored,
    _Tail,
    has_backlog,
    offsets_to_commit,
)
from schemas import CODEC, OrderRequested
from schemas.signing import keyring, signature_in
from topics import StateChangelogs, Topics
from trading.risk import AccountRiskState


class RecordingOutbox:
    """Stands in for the producer side: the records a batch queued."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes, dict[str, Any]]] = []

    def add(self, topic: str, key: bytes | None, value: bytes, **where: Any) -> None:
        self.records.append((topic, key, value, where))


def request(account: str = "acct-1", order_id: str = "o-1") -> OrderRequested:
    return OrderRequested(
        order_id=order_id,
        account_id=account,
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        quantity=Decimal("0.1"),
    )


def item(event: OrderRequested, offset: int, partition: int = 0) -> Item:
    return Item(Topics.ORDERS_REQUESTED, partition, offset, event.account_id.encode(), b"", event)


def stage(handle: Any = None) -> Stage[AccountRiskState]:
    return Stage(
        "test",
        {Topics.ORDERS_REQUESTED: (OrderRequested,)},
        handle or (lambda item, batch: None),
        state=AccountRiskState,
        changelog=StateChangelogs.ORDERS,
    )


def batch_of(s: Stage[AccountRiskState]) -> tuple[Batch[AccountRiskState], RecordingOutbox]:
    outbox = RecordingOutbox()
    return Batch(s, outbox), outbox  # type: ignore[arg-type]


def test_recent_keys_forget_the_oldest_beyond_capacity() -> None:
    keys = RecentKeys(3)
    for key in "abcd":
        keys.add(key)
    keys.add("b")  # already there: not added twice, nothing evicted
    assert [k in keys for k in "abcd"] == [False, True, True, True]
    assert len(keys) == 3


def test_an_item_at_or_below_its_keys_offset_is_applied_one_above_is_not() -> None:
    s = stage()
    s.store.partitions[0] = {"acct-1": Stored({"orders.requested": 41}, AccountRiskState())}  # type: ignore[union-attr]
    batch, _ = batch_of(s)
    assert batch.applied(item(request(), 41), "acct-1")
    assert batch.applied(item(request(), 7), "acct-1")
    assert not batch.applied(item(request(), 42), "acct-1")
    assert not batch.applied(item(request(), 41, partition=1), "acct-1")  # another partition's key
    assert not batch.applied(item(request(account="acct-2"), 10), "acct-2")


def test_a_put_records_the_offset_so_a_redelivery_in_the_same_batch_is_applied() -> None:
    batch, _ = batch_of(stage())
    first = item(request(), 5)
    batch.put(first, "acct-1", AccountRiskState())
    assert batch.applied(item(request(), 5), "acct-1")
    assert batch.changed[(0, "acct-1")].offsets == {"orders.requested": 5}


def test_an_upstream_redo_same_event_at_a_new_offset_is_found_in_the_partitions_window() -> None:
    s = stage()
    original = request()
    s.windows[("orders.requested", 0)] = RecentKeys(10)
    s.windows[("orders.requested", 0)].add(str(original.event_id))
    batch, _ = batch_of(s)
    assert batch.applied(item(original, 900), "acct-1")
    assert not batch.applied(item(request(), 901), "acct-1")  # a new event


def test_a_failing_item_leaves_no_state_behind_and_goes_to_its_dead_letter_topic() -> None:
    def handle(it: Item, batch: Batch[AccountRiskState]) -> None:
        batch.put(it, it.event.account_id, AccountRiskState())  # type: ignore[attr-defined]
        if it.offset == 2:
            raise ValueError("boom")

    s = stage(handle)
    batch, outbox = batch_of(s)
    for offset in (1, 2):
        s._apply(item(request(), offset), batch)
    assert batch.changed[(0, "acct-1")].offsets == {"orders.requested": 1}  # the put of offset 2 undone
    (dead,) = outbox.records
    assert dead[0] == Topics.ORDERS_REQUESTED.dead_letter.full_name(s.prefix)  # type: ignore[union-attr]
    assert dict(dead[3]["headers"])["zvt-dlq-reason"] == b"processing-failed"
    # Every applied item's id is in the window, the failed one too (it is done: dead-lettered).
    assert len(s.windows[("orders.requested", 0)]) == 2


def test_a_parked_lane_holds_the_rest_of_its_events_and_stays_out_of_the_window() -> None:
    def handle(it: Item, batch: Batch[AccountRiskState]) -> None:
        account = it.event.account_id  # type: ignore[attr-defined]
        if batch.is_parked(account) or it.offset == 1:
            batch.park(it, account)

    s = stage(handle)
    batch, _ = batch_of(s)
    items = [item(request("acct-1"), 1), item(request("acct-2"), 2), item(request("acct-1"), 3)]
    for it in items:
        s._apply(it, batch)
    assert [it.offset for it in batch.parked] == [1, 3]
    window = s.windows[("orders.requested", 0)]
    assert [str(it.event.event_id) in window for it in items] == [False, True, False]


def test_commits_stop_at_the_first_parked_record_and_repeat_nothing() -> None:
    a, b = TopicPartition("p.orders.requested", 0), TopicPartition("p.orders.requested", 1)
    fetched = {a: 120, b: 40}
    parked = [("p.orders.requested", 0, 100), ("p.orders.requested", 0, 97)]
    assert offsets_to_commit(fetched, parked, {}) == {a: 97, b: 40}
    assert offsets_to_commit(fetched, parked, {a: 97, b: 40}) == {}
    assert offsets_to_commit(fetched, [], {a: 97, b: 40}) == {a: 120}


def test_state_records_round_trip_with_their_offsets() -> None:
    store = StateStore(AccountRiskState, StateChangelogs.ORDERS)
    state = AccountRiskState(positions={"BTC/USDT": Decimal("0.30000001")})
    stored = Stored({"orders.requested": 12, "orders.executed": 3}, state)
    again = store.decode(store.encode(stored))
    assert again.offsets == stored.offsets
    assert again.value == state


def test_publish_keys_by_the_registry_and_partitions_by_kafkas_default_partitioner() -> None:
    batch, outbox = batch_of(stage())
    event = request(account="acct-7")
    batch.publish([event])
    ((topic, key, value, where),) = outbox.records
    assert topic.endswith("orders.requested")
    assert key == b"acct-7"
    assert CODEC.decode(value) == event
    assert where["partitions"] == 6
    assert keyring().verify(value, signature_in(where["headers"])) == keyring().active  # signed
    rng = random.Random(7)
    for _ in range(200):
        key = f"acct-{rng.randrange(10**6)}-{uuid4().hex[:4]}".encode()
        assert partition_for(key, 6) == DefaultPartitioner()(key, list(range(6)), list(range(6)))
    assert partition_for(None, 6) == 0
    assert partition_for(b"x", 1) == 0


class RecordingConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def test_commits_are_left_to_the_next_pending_batch_within_the_interval_and_the_last_commits() -> None:
    s = stage()
    consumer = RecordingConsumer()
    s.consumer = consumer
    s.commit_interval = 3600.0
    p0, p1 = TopicPartition("t", 0), TopicPartition("t", 1)
    first = _Tail(None)
    second = _Tail(first)
    third = _Tail(second)
    await s._commit(first, {p0: 10, p1: 5})
    assert consumer.commits == [{p0: 10, p1: 5}]  # nothing committed yet: the first goes at once
    await s._commit(second, {**second.carried, p0: 20})
    assert consumer.commits == [{p0: 10, p1: 5}]  # within the interval, a later batch is pending
    assert third.carried == {p0: 20}
    await s._commit(third, {**third.carried, p1: 7})
    assert consumer.commits[-1] == {p0: 20, p1: 7}  # no batch after it: it commits what it carries


async def test_a_pending_batch_does_not_hold_back_a_commit_older_than_the_interval() -> None:
    s = stage()
    consumer = RecordingConsumer()
    s.consumer = consumer
    s.commit_interval = 0.0
    first = _Tail(None)
    _Tail(first)
    await s._commit(first, {TopicPartition("t", 0): 3})
    await s._commit(first, {TopicPartition("t", 0): 4})
    assert len(consumer.commits) == 2


def test_a_forged_or_tampered_record_is_dead_lettered_bad_signature_and_never_decoded() -> None:
    from aiokafka.structs import ConsumerRecord

    s = stage()
    ring = keyring()
    good = CODEC.encode(request(order_id="good"))
    tampered = good.replace(b'"quantity":"0.1"', b'"quantity":"1000"')
    assert tampered != good

    def record(value: bytes, headers: list[tuple[str, bytes]], offset: int) -> Any:
        return ConsumerRecord(
            "orders.requested", 0, offset, 0, 0, b"acct-1", value, None, len(value), 0, tuple(headers)
        )

    outbox = RecordingOutbox()
    records = [
        record(good, ring.headers(good), 1),
        record(good, [], 2),  # forged: no signature
        record(tampered, ring.headers(good), 3),  # tampered: the signature of other bytes
        record(good, [("zvt-signature", b"stolen:" + ring.sign(good).partition(b":")[2])], 4),
    ]
    accepted = (OrderRequested,)
    items = [s._decode(outbox, Topics.ORDERS_REQUESTED, 0, r, accepted, ring) for r in records]  # type: ignore[arg-type]
    assert [it is not None for it in items] == [True, False, False, False]
    assert items[0] is not None
    assert items[0].value == good
    letters = [(value, dict(where["headers"])) for _, _, value, where in outbox.records]
    assert [headers["zvt-dlq-reason"] for _, headers in letters] == [b"bad_signature"] * 3
    assert [headers["zvt-dlq-offset"] for _, headers in letters] == [b"2", b"3", b"4"]
    assert letters[1][0] == tampered  # the original bytes, kept for whoever looks into it
    assert b"unknown signing key 'stolen'" in letters[2][1]["zvt-dlq-error"]


def _signed_or_not() -> Any:
    from hypothesis import strategies as st

    from tests.hostile import hostile_orders

    ring = keyring()
    signatures = st.sampled_from(["signed", "none", "other bytes", "garbage"])
    garbage = st.binary(max_size=80).map(lambda raw: [("zvt-signature", raw)])

    def headers(value: bytes, how: str, noise: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        if how == "signed":
            return ring.headers(value)
        if how == "other bytes":
            return ring.headers(value + b" ")
        return noise if how == "garbage" else []

    return st.tuples(hostile_orders(), signatures, garbage).map(
        lambda t: (t[0], headers(t[0], t[1], t[2]), t[1])
    )


def test_hostile_records_signed_or_not_are_decoded_or_dead_lettered_with_a_reason_never_raised() -> None:
    from aiokafka.structs import ConsumerRecord
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_signed_or_not())
    def check(case: tuple[bytes, list[tuple[str, bytes]], str]) -> None:
        value, headers, how = case
        outbox = RecordingOutbox()
        size = len(value)
        record = ConsumerRecord("orders.requested", 0, 7, 0, 0, b"a", value, None, size, 0, tuple(headers))
        item = stage()._decode(outbox, Topics.ORDERS_REQUESTED, 0, record, (OrderRequested,), keyring())  # type: ignore[arg-type]
        letters = [dict(where["headers"]) for _, _, _, where in outbox.records]
        if how != "signed":  # nothing unsigned is ever decoded, whatever its bytes
            assert item is None
            expected = b"bad_signature" if value else b"undecodable"  # an empty value has nothing to verify
            assert [letter["zvt-dlq-reason"] for letter in letters] == [expected]
        else:
            assert (item is None) == (len(letters) == 1)
            assert all(letter["zvt-dlq-reason"] != b"bad_signature" for letter in letters)

    check()


def test_an_item_parked_under_several_lanes_is_held_once() -> None:
    """The strategies stage parks a price under each strategy slot that waits: it comes back once."""
    batch, _ = batch_of(stage())
    first, second = item(request(), 1), item(request(), 2)
    batch.park(first, "slot-a")
    batch.park(first, "slot-b")
    batch.park(second, "slot-a")
    assert batch.parked == [first, second]
    assert batch.is_parked("slot-a")
    assert batch.is_parked("slot-b")
    assert not batch.is_parked("slot-c")


class RebalancedConsumer:
    """A consumer whose partitions were revoked and assigned again: where the stage seeks it."""

    def __init__(self, assigned: set[TopicPartition], committed: dict[TopicPartition, int | None]) -> None:
        self._assigned = assigned
        self._committed = committed
        self.seeks: list[tuple[str, TopicPartition]] = []

    def assignment(self) -> set[TopicPartition]:
        return self._assigned

    async def committed(self, tp: TopicPartition) -> None:
        return None  # the dedupe window's rebuild on assignment: nothing to read back here

    async def seek_to_committed(self, *tps: TopicPartition) -> dict[TopicPartition, int | None]:
        self.seeks.extend(("committed", tp) for tp in tps)
        return {tp: self._committed.get(tp) for tp in tps}

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.seeks.extend(("beginning", tp) for tp in tps)


async def test_a_fetch_from_before_a_rebalance_is_not_applied_its_partitions_are_read_again() -> None:
    """The lost order of a rebalance: an account's order parked at offset 5, the rest of the partition
    fetched (6..9) while the group rebalanced and gave the partition straight back. Applied, those would
    go before the parked order, which the rebalance dropped from memory, and commit past it."""
    s = stage()
    name = Topics.ORDERS_REQUESTED.full_name(s.prefix)
    p0, p1, gone = TopicPartition(name, 0), TopicPartition(name, 1), TopicPartition(name, 2)
    consumer = RebalancedConsumer({p0, p1}, {p0: 5, p1: None})
    s.consumer = consumer
    assert s.store is not None
    s.store.partitions = {0: {}, 1: {}}
    s.parked = [item(request(order_id="o-parked"), 5)]
    later = [object()] * 4
    fetched = {p0: later, p1: [object()], gone: [object()]}

    fetched_in = s.generation
    await s.revoked({p0, p1, gone})
    await s.assigned({p0, p1})
    assert await s._take(fetched, fetched_in, consumer) is None
    assert s.parked == []
    assert consumer.seeks == [("committed", p0), ("committed", p1), ("beginning", p1)]
    assert s.stats.stale_fetches == 6

    consumer.seeks.clear()
    taken = await s._take(fetched, s.generation, consumer)
    assert taken == {p0: later, p1: fetched[p1]}  # fetched since: applied, but for a partition not ours
    assert consumer.seeks == []


class ResumingConsumer(RebalancedConsumer):
    """Assigned partitions with commits and ends: what `has_backlog` reads."""

    def __init__(self, committed: dict[TopicPartition, int | None], ends: dict[TopicPartition, int]) -> None:
        super().__init__(set(committed), committed)
        self.ends = ends

    async def committed(self, tp: TopicPartition) -> int | None:  # type: ignore[override]
        return self._committed.get(tp)

    def highwater(self, tp: TopicPartition) -> int:
        return self.ends[tp]


async def test_after_a_rebalance_a_partition_with_nothing_new_is_not_behind() -> None:
    """A partition read up to its commit before a rebalance, with nothing after it: the stage is caught up
    there (the order stage waited the full settle maximum per order while its market data stage counted
    such a partition behind from offset 0)."""
    s: Stage[Any] = Stage(
        "test", {Topics.ORDERS_REQUESTED: (OrderRequested,)}, lambda item, batch: None, dedupe=False
    )
    name = Topics.ORDERS_REQUESTED.full_name(s.prefix)
    read, fresh = TopicPartition(name, 0), TopicPartition(name, 1)
    consumer = ResumingConsumer({read: 7, fresh: None}, {read: 7, fresh: 0})
    s.consumer = consumer
    await s.revoked({read, fresh})
    await s.assigned({read, fresh})
    assert not has_backlog(consumer, s._next_offsets)
    consumer.ends[read] = 9  # two records after the commit: behind until they are taken
    assert has_backlog(consumer, s._next_offsets)
    consumer.ends[read], consumer.ends[fresh] = 7, 3  # never committed, records there: behind
    assert has_backlog(consumer, s._next_offsets)
