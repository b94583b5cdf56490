"""What TLS costs a plain aiokafka loop: bench.pipeline's raw batch loop over clear text and over the stack's
TLS listener, alternately, with the CPU each side spent per message.

`python -m bench.kafka_tls [--messages N ...] [--pairs P]`. For each count, P pairs of runs (clear text, then
`ZVT_TLS=1`'s settings), each on fresh topics: the loop's msgs/s (as bench.pipeline reports it), the whole
run's wall time, this process's CPU and the local broker's (from /proc, pid in .run/kafka/kafka.pid) per
message. Several counts separate a fixed cost per run (connections, handshakes, the first fetches) from a
cost per message: bench.pipeline's 20,000 messages are mostly the former.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.pipeline import raw_batch
from runtime.settings import load_settings, run_dir
from topics.admin import delete_prefixed_topics, ensure_topics


def broker_cpu_seconds() -> float:
    """User + system CPU of the local stack's broker so far."""
    pid = int((run_dir() / "kafka" / "kafka.pid").read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(tls: bool, count: int) -> tuple[str, float, float, float, float]:
    """(protocol, loop msgs/s, wall s, client CPU µs/msg, broker CPU µs/msg) of one run on fresh topics."""
    settings = load_settings(tls=tls).model_copy(
        update={"topic_prefix": f"bench-tls-{uuid.uuid4().hex[:8]}."}
    )
    await ensure_topics(settings, settings.topic_prefix)
    try:
        cpu, broker, wall = time.process_time(), broker_cpu_seconds(), time.perf_counter()
        rate = await raw_batch(settings, count)
        cpu, broker = time.process_time() - cpu, broker_cpu_seconds() - broker
        wall = time.perf_counter() - wall
    finally:
        await delete_prefixed_topics(settings, settings.topic_prefix)
    return settings.kafka_security_protocol, rate, wall, cpu / count * 1e6, broker / count * 1e6


async def run(counts: list[int], pairs: int) -> Table:
    columns = ("messages", "pair", "protocol", "loop msgs/s", "TLS / clear", "wall s", "client µs/msg")
    table = Table(*columns, "broker µs/msg", title="raw batch loop (bench.pipeline), clear text and TLS")
    for count in counts:
        for pair in range(1, pairs + 1):
            clear_rate = 0.0
            for tls in (False, True):
                protocol, rate, wall, client, broker = await one_run(tls, count)
                # Truncated, never rounded up.
                shown = f"{math.floor(rate / clear_rate * 1000) / 1000:.3f}" if tls else ""
                clear_rate = rate
                figures = (f"{rate:,.1f}", shown, f"{wall:.2f}", f"{client:.1f}", f"{broker:.1f}")
                table.add_row(f"{count:,}", str(pair), protocol, *figures)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--pairs", type=int, default=2, help="clear-text/TLS pairs per message count")
    args = parser.parse_args()
    # A log file gets the table unwrapped.
    Console(width=None if sys.stdout.isatty() else 140).print(asyncio.run(run(args.messages, args.pairs)))


if __name__ == "__main__":
    main()
