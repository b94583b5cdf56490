"""Faust's own batch delivery beside a batch consumer of our own: one consume -> forward loop, four ways.

`python -m bench.faust_batches [--messages N] [--json]`.
In one run, on fresh topics of a unique prefix (6 partitions each, deleted at the end), each variant gets
an input topic preloaded with N 400-byte values over 24 keys before its consumer starts, and forwards
every value (and key) unchanged to an output topic of its own, at least once (acks=all; offsets committed
only once the outputs are acknowledged):

- `faust_per_event`: a Faust agent, `async for event in stream.events()`, `await topic.send(...)` per
  event without awaiting its delivery; Faust acks each event after its iteration, and flushes its
  producer before it commits.
- `faust_take_events`: `stream.take_events(1000, 0.01)`; the batch's sends, then their delivery futures
  awaited once per batch; Faust acks the batch's events when the agent asks for the next batch.
- `faust_noack_take`: `stream.noack_take(1000, 0.01)`, the same sends and one wait, then
  `await stream.ack(event)` for each event of the batch.
- `aiokafka_batch`: a plain aiokafka loop: `getmany(max_records=1000)`, one `create_batch`/`append`/
  `send_batch` per partition, the futures awaited once per batch, then `consumer.commit()`.

Every variant runs in a process of its own (the Faust ones as a Faust worker: a Faust app with
`store="memory://"`, `processing_guarantee="at_least_once"`, and an app id, so a consumer group, of its
own), started only once its input is loaded. All four use the same producer batch size (512 KiB) and
per-partition fetch size (4 MiB); Faust's other settings are its defaults. The bench reads the output
topic itself: a variant's rate is N over the time from its first output record's timestamp (when the
loop produced it) to the arrival of the N-th distinct value here, so the worker's start and group join
are left out (shown apart, as "first output after"); "worker CPU" is the CPU time its process (all its
threads) used meanwhile, per message. A variant that fails, exits, or has not delivered
N distinct values within --timeout seconds of its start is reported as failed, with the reason. After
each variant its process is stopped (SIGTERM), and its group's committed offsets are read back beside
the records its output topic then holds (at least once: never fewer outputs than committed inputs).

With --json, stdout carries one JSON object; the table and progress go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from rich.console import Console
from rich.table import Table

from bench.pipeline import send_batches
from runtime.clients import faust_credentials, kafka_security
from runtime.settings import load_settings

VARIANTS = ("faust_per_event", "faust_take_events", "faust_noack_take", "aiokafka_batch")
PARTITIONS = 6
KEYS = 24
VALUE_BYTES = 400
INDEX_BYTES = 12  # each value starts with its index, zero-padded: how the reader tells duplicates apart
TAKE_MAX = 1000  # take_events / noack_take / getmany batch size
TAKE_WITHIN = 0.01  # take_events / noack_take: seconds to wait for a batch to fill
PRODUCER_BATCH_BYTES = 512 * 1024  # every producer's max_batch_size (Faust's default: 16 KiB)
FETCH_BYTES = 4 * 1024 * 1024  # every consumer's max_partition_fetch_bytes (Faust's default: 1 MiB)
PRELOAD_CHUNK = 10_000  # records built and sent at a time when loading an input topic
STOP_SECONDS = 60.0  # after SIGTERM, before SIGKILL
REPO_ROOT = Path(__file__).resolve().parents[1]


def input_topic(prefix: str, variant: str) -> str:
    return f"{prefix}{variant}.in"


def output_topic(prefix: str, variant: str) -> str:
    return f"{prefix}{variant}.out"


def group_id(prefix: str, variant: str) -> str:
    """The variant's consumer group; for a Faust variant also its app id (its internal topics start with
    it, so with the run's prefix)."""
    return f"{prefix}{variant}"


def value_of(index: int) -> bytes:
    return f"{index:0{INDEX_BYTES}d}".encode().ljust(VALUE_BYTES, b"x")


def records(count: int) -> Iterator[tuple[bytes, bytes]]:
    for i in range(count):
        yield f"key-{i % KEYS}".encode(), value_of(i)


# ---------------------------------------------------------------------------------------------------------
# The variants (each runs in a process of its own: `--worker VARIANT`)


async def aiokafka_batch(prefix: str, bootstrap: str) -> None:
    """getmany, one produced batch per partition (source partition p -> target partition p: the same key
    partitioning on both sides), await the batches' deliveries, commit; until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    variant = "aiokafka_batch"
    consumer = AIOKafkaConsumer(
        input_topic(prefix, variant),
        bootstrap_servers=bootstrap,
        **kafka_security(load_settings()),
        group_id=group_id(prefix, variant),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_BYTES,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **kafka_security(load_settings()),
        acks="all",
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    await consumer.start()
    await producer.start()
    target = output_topic(prefix, variant)
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=100, max_records=TAKE_MAX)
            if not fetched:
                continue
            futures = await send_batches(
                producer,
                target,
                [(tp.partition, r.key, r.value or b"") for tp, batch in fetched.items() for r in batch],
            )
            await asyncio.gather(*futures)
            await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in fetched.items()})
    finally:
        await producer.stop()
        await consumer.stop()


def faust_app(variant: str, prefix: str, bootstrap: str, workdir: Path) -> Any:
    """The Faust app of one Faust variant: one agent reading the variant's input topic."""
    import faust

    app = faust.App(
        group_id(prefix, variant),
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(load_settings()),
        store="memory://",
        processing_guarantee="at_least_once",
        datadir=str(workdir / "{conf.id}"),
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        producer_acks=-1,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        consumer_max_fetch_size=FETCH_BYTES,
        web_enabled=False,
    )
    source, target = (
        app.topic(
            name,
            partitions=PARTITIONS,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for name in (input_topic(prefix, variant), output_topic(prefix, variant))
    )

    async def per_event(stream: Any) -> None:
        async for event in stream.events():
            await target.send(key=event.key, value=event.value)  # the delivery future is not awaited

    async def take_events(stream: Any) -> None:
        async for events in stream.take_events(TAKE_MAX, TAKE_WITHIN):
            deliveries = [await target.send(key=event.key, value=event.value) for event in events]
            await asyncio.gather(*deliveries)
            # Faust acks the events when this loop asks for the next batch.

    async def noack_take(stream: Any) -> None:
        async for events in stream.noack_take(TAKE_MAX, TAKE_WITHIN):  # events, not values
            deliveries = [await target.send(key=event.key, value=event.value) for event in events]
            await asyncio.gather(*deliveries)
            for event in events:
                await stream.ack(event)

    agents = {"faust_per_event": per_event, "faust_take_events": take_events, "faust_noack_take": noack_take}
    app.agent(source, name=f"forward_{variant}")(agents[variant])
    return app


def run_worker(variant: str, prefix: str, bootstrap: str, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    if variant == "aiokafka_batch":
        asyncio.run(aiokafka_batch(prefix, bootstrap))
        return
    from faust import Worker

    worker = Worker(faust_app(variant, prefix, bootstrap, workdir), loglevel="WARNING", quiet=True)
    # Faust's terminal spinner would set the root logger to DEBUG (every aiokafka debug call building its
    # record); it is no part of Faust's delivery.
    worker.spinner = None
    worker.execute_from_commandline()  # until SIGTERM; exits the process


# ---------------------------------------------------------------------------------------------------------
# The bench process


@dataclass
class Arrivals:
    """What the bench's reader saw on one output topic so far."""

    wanted: int
    seen: set[bytes] = field(default_factory=set)
    records: int = 0
    first_timestamp_ms: int | None = None  # the earliest output record's timestamp (its producer's clock)
    done_at: float | None = None  # time.time() when the wanted-th distinct value arrived
    pid: int | None = None  # the variant's process, once started
    cpu_at_first: float | None = None  # its CPU seconds (all threads) when the first output was read
    cpu_at_done: float | None = None  # and when the wanted-th distinct value was


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process `pid` (all its threads); None once it is gone."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def read_outputs(bootstrap: str, topic: str, arrivals: Arrivals, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **kafka_security(load_settings()),
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_BYTES,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolved now, not at the first fetch
        ready.set()
        while arrivals.done_at is None:
            for batch in (await consumer.getmany(timeout_ms=100, max_records=20_000)).values():
                if arrivals.records == 0:
                    arrivals.cpu_at_first = cpu_seconds(arrivals.pid)
                arrivals.records += len(batch)
                for record in batch:
                    if arrivals.first_timestamp_ms is None or record.timestamp < arrivals.first_timestamp_ms:
                        arrivals.first_timestamp_ms = record.timestamp
                    arrivals.seen.add((record.value or b"")[:INDEX_BYTES])
                if len(arrivals.seen) >= arrivals.wanted:
                    arrivals.done_at = time.time()
                    arrivals.cpu_at_done = cpu_seconds(arrivals.pid)
    finally:
        await consumer.stop()


async def preload(bootstrap: str, topic: str, count: int) -> float:
    """Load `count` records into `topic`, partitioned by key as the default producer does; seconds taken."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **kafka_security(load_settings()),
        acks="all",
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        partitions = list(range(PARTITIONS))
        partitioner = DefaultPartitioner()
        pending: list[asyncio.Future[Any]] = []
        chunk: list[tuple[int, bytes | None, bytes]] = []
        for key, value in records(count):
            chunk.append((partitioner(key, partitions, partitions), key, value))
            if len(chunk) == PRELOAD_CHUNK:
                futures = await send_batches(producer, topic, chunk)
                await asyncio.gather(*pending)  # one chunk in flight while the next is built
                pending, chunk = futures, []
        pending += await send_batches(producer, topic, chunk)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def committed(admin: AIOKafkaAdminClient, prefix: str, variant: str) -> int:
    """The sum of the variant's group's committed offsets on its input topic."""
    offsets = await admin.list_consumer_group_offsets(group_id(prefix, variant))
    name = input_topic(prefix, variant)
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == name)


async def records_in(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets: nothing here is deleted or
    transactional)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **kafka_security(load_settings()), enable_auto_commit=False
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(text[-lines:])


async def stop_process(process: asyncio.subprocess.Process) -> str:
    """SIGTERM, then SIGKILL after STOP_SECONDS; how it ended."""
    if process.returncode is not None:
        return f"had exited ({process.returncode})"
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
        return f"stopped ({process.returncode})"
    except TimeoutError:
        process.kill()
        await process.wait()
        return f"killed after {STOP_SECONDS:.0f} s without stopping on SIGTERM"


async def measure(
    variant: str,
    args: argparse.Namespace,
    prefix: str,
    admin: AIOKafkaAdminClient,
    workdir: Path,
    log: Console,
) -> dict[str, Any]:
    """Load the variant's input, start its process, wait for its N outputs (or its failure)."""
    bootstrap, count = args.bootstrap, args.messages
    result: dict[str, Any] = {"variant": variant, "status": "failed", "reason": None, "per_s": None}
    loaded = await preload(bootstrap, input_topic(prefix, variant), count)
    log.print(f"{variant}: {count:,} messages loaded in {loaded:.1f} s; starting its process")
    arrivals = Arrivals(count)
    ready = asyncio.Event()
    reader = asyncio.create_task(read_outputs(bootstrap, output_topic(prefix, variant), arrivals, ready))
    await ready.wait()
    worker_log = workdir / f"{variant}.log"
    with worker_log.open("wb") as out:
        started = time.time()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.faust_batches",
            "--worker",
            variant,
            "--prefix",
            prefix,
            "--bootstrap",
            bootstrap,
            "--workdir",
            str(workdir),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        arrivals.pid = process.pid
    exited = asyncio.create_task(process.wait())
    try:
        done, _ = await asyncio.wait(
            {reader, exited}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if reader in done:
            reader.result()  # raises what the reader failed with
            assert arrivals.done_at is not None
            assert arrivals.first_timestamp_ms is not None
            elapsed = arrivals.done_at - arrivals.first_timestamp_ms / 1000
            result |= {
                "status": "ok",
                "per_s": count / elapsed,
                "us_per_event": elapsed * 1e6 / count,
                "first_output_after_s": arrivals.first_timestamp_ms / 1000 - started,
            }
            if arrivals.cpu_at_first is not None and arrivals.cpu_at_done is not None:
                result["worker_cpu_us_per_event"] = (
                    (arrivals.cpu_at_done - arrivals.cpu_at_first) * 1e6 / count
                )
        elif exited in done:
            result["reason"] = (
                f"its process exited ({process.returncode}) after {len(arrivals.seen):,} of {count:,}: "
                f"{tail(worker_log)}"
            )
        else:
            result["reason"] = (
                f"{len(arrivals.seen):,} of {count:,} delivered within {args.timeout:.0f} s of its start"
            )
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        ending = await stop_process(process)
        exited.cancel()
    result |= {
        "output_records": arrivals.records,
        "duplicates": arrivals.records - len(arrivals.seen),
        "committed": await committed(admin, prefix, variant),
        "output_records_after_stop": await records_in(bootstrap, output_topic(prefix, variant)),
        "ending": ending,
        "log": str(worker_log),
    }
    if result["status"] == "ok":
        log.print(
            f"{variant}: {result['per_s']:,.0f} msgs/s, {result['duplicates']:,} duplicates, "
            f"{result['committed']:,} committed, {ending}"
        )
    else:
        log.print(f"{variant}: FAILED: {result['reason']} ({ending}; log {worker_log})")
    return result


async def create_topics(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Create `names` (PARTITIONS each) and wait until every partition has a leader."""
    response = await admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
    )
    failed = [f"{name}: error {code} {message}" for name, code, message in response.topic_errors if code]
    if failed:
        raise RuntimeError(f"creating topics failed: {failed}")
    for _ in range(100):
        described = await admin.describe_topics(names)
        if all(
            d["error_code"] == 0
            and len(d["partitions"]) == PARTITIONS
            and all(p["leader"] >= 0 for p in d["partitions"])
            for d in described
        ):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the run's topics have no leader for every partition after 10 s")


async def delete_topics(admin: AIOKafkaAdminClient, prefix: str) -> list[str]:
    names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    if names:
        await admin.delete_topics(names)
    return names


def table(results: list[dict[str, Any]], count: int) -> Table:
    baseline = next((r["per_s"] for r in results if r["variant"] == "aiokafka_batch"), None)
    shown = Table(
        "variant",
        "msgs/s",
        "µs/event",
        "worker CPU µs/event",
        "vs aiokafka_batch",
        "duplicates",
        "committed / output after stop",
        "first output after (s)",
        title=f"Consume -> forward of {count:,} 400-byte messages, at least once",
    )
    for r in results:
        if r["status"] != "ok":
            shown.add_row(
                r["variant"],
                "FAILED",
                "-",
                "-",
                "-",
                f"{r['duplicates']:,}",
                f"{r['committed']:,} / {r['output_records_after_stop']:,}",
                "-",
            )
            continue
        shown.add_row(
            r["variant"],
            f"{r['per_s']:,.0f}",
            f"{r['us_per_event']:.1f}",
            f"{r['worker_cpu_us_per_event']:.1f}" if "worker_cpu_us_per_event" in r else "-",
            f"{r['per_s'] / baseline:.2f}" if baseline else "-",
            f"{r['duplicates']:,}",
            f"{r['committed']:,} / {r['output_records_after_stop']:,}",
            f"{r['first_output_after_s']:.1f}",
        )
    return shown


async def run(args: argparse.Namespace) -> int:
    log = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    prefix = f"bench-faust-{uuid.uuid4().hex[:8]}."
    workdir = Path(os.environ.get("ZVT_BENCH_DIR", "/tmp/zvt-bench")) / prefix.rstrip(".")
    workdir.mkdir(parents=True, exist_ok=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap, **kafka_security(load_settings()))
    await admin.start()
    results: list[dict[str, Any]] = []
    try:
        await create_topics(
            admin,
            [
                name
                for variant in args.variants
                for name in (input_topic(prefix, variant), output_topic(prefix, variant))
            ],
        )
        log.print(f"topics {prefix}*, logs in {workdir}")
        for variant in args.variants:
            try:
                results.append(await measure(variant, args, prefix, admin, workdir, log))
            except Exception as exc:  # reported, not skipped
                log.print(f"{variant}: FAILED: {exc!r}")
                results.append(
                    {"variant": variant, "status": "failed", "reason": repr(exc), "per_s": None}
                    | {"duplicates": 0, "committed": 0, "output_records_after_stop": 0}
                )
    finally:
        if not args.keep_topics:
            deleted = await delete_topics(admin, prefix)
            log.print(f"deleted {len(deleted)} topics {prefix}*")
        await admin.close()
    people = log if args.json else Console(width=None if sys.stdout.isatty() else 140)
    people.print(table(results, args.messages))
    people.print(
        f"{PARTITIONS} partitions per topic, {KEYS} keys, acks=all; batches of {TAKE_MAX} "
        f"(take_events/noack_take within {TAKE_WITHIN} s); producer batches "
        f"{PRODUCER_BATCH_BYTES // 1024} KiB, fetches {FETCH_BYTES // 1024 // 1024} MiB per partition; "
        "rate from the first output record produced to the N-th distinct one read"
    )
    for r in results:
        if r["status"] != "ok":
            people.print(f"FAILED {r['variant']}: {r['reason']}")
    if args.json:
        report: dict[str, Any] = {"messages": args.messages}
        for r in results:
            report[f"{r['variant']}_per_s"] = None if r["per_s"] is None else round(r["per_s"], 1)
        for r in results:
            report[f"{r['variant']}_us_per_event"] = (
                None if r["per_s"] is None else round(r["us_per_event"], 2)
            )
        for r in results:
            cpu = r.get("worker_cpu_us_per_event")
            report[f"{r['variant']}_worker_cpu_us_per_event"] = None if cpu is None else round(cpu, 2)
        report["failed"] = {r["variant"]: r["reason"] for r in results if r["status"] != "ok"}
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        sys.stdout.flush()
    return 1 if any(r["status"] != "ok" for r in results) else 0


def default_bootstrap() -> str:
    env = os.environ.get("ZVT_KAFKA_BOOTSTRAP")
    if env:
        return env
    with contextlib.suppress(FileNotFoundError):
        for line in (REPO_ROOT / ".run" / "zvt.env").read_text().splitlines():
            if line.startswith("ZVT_KAFKA_BOOTSTRAP="):
                return line.split("=", 1)[1].strip().strip('"')
    return "127.0.0.1:9092"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="messages per variant")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout; the table to stderr")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per variant, from its start")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--bootstrap", default=default_bootstrap(), help="Kafka bootstrap servers")
    # The variants' own processes:
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.prefix, args.bootstrap, args.workdir)
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
