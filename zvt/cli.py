"""The `zvt` command line: run the local stack, manage topics, start workers, check the platform."""

from __future__ import annotations

import asyncio
import subprocess

import typer
from rich.console import Console
from rich.table import Column, Table

from eventstore import cli as eventstore_cli
from topics import Streams, Topics
from topics.registry import DEAD_LETTER_SUFFIX
from zvt.settings import REPO_ROOT, get_settings

app = typer.Typer(help="Event-driven crypto trading platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack: PostgreSQL, Redis, Kafka and the Hatchet engine.")
topics_app = typer.Typer(help="Kafka topics and Redis streams of the registry.")
workflows_app = typer.Typer(help="Hatchet workflows.")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(workflows_app, name="workflows")
app.add_typer(eventstore_cli.db_app, name="db")
app.command("sink")(eventstore_cli.sink)
app.command("trace")(eventstore_cli.trace)
app.command("replay")(eventstore_cli.replay)

console = Console()
STACK_SCRIPT = REPO_ROOT / "deploy" / "local" / "stack.sh"


def _stack(verb: str) -> None:
    raise typer.Exit(subprocess.call(["bash", str(STACK_SCRIPT), verb]))


@stack_app.command("up")
def stack_up() -> None:
    """Install (once) and start every service; a no-op for those already running."""
    _stack("up")


@stack_app.command("down")
def stack_down() -> None:
    """Stop every service of the local stack."""
    _stack("down")


@stack_app.command("status")
def stack_status() -> None:
    """Show which services run; exits 1 when any is down."""
    _stack("status")


@topics_app.command("create")
def topics_create(
    prefix: str = typer.Option(None, help="Name prefix (default: ZVT_TOPIC_PREFIX)."),
) -> None:
    """Create the registry's topics and dead-letter topics (idempotent)."""
    from topics.admin import ensure_topics

    settings = get_settings()
    results = asyncio.run(
        ensure_topics(settings.kafka_bootstrap, settings.topic_prefix if prefix is None else prefix)
    )
    table = Table(
        Column("topic", no_wrap=True),
        "partitions",
        "action",
        title=f"Kafka topics on {settings.kafka_bootstrap}",
    )
    for result in results:
        table.add_row(result.name, str(result.partitions), result.action.value)
    console.print(table)


@topics_app.command("list")
def topics_list() -> None:
    """Print the registry: every topic and stream, its key and the events it carries."""
    table = Table(
        Column("kafka topic", no_wrap=True),
        "partitions",
        "key",
        Column("events", overflow="fold"),
        "cleanup",
        title="Kafka topics",
        caption=f"each with a dead-letter topic <name>{DEAD_LETTER_SUFFIX}",
    )
    for topic in Topics.all():
        table.add_row(
            topic.name,
            str(topic.partitions),
            ":".join(topic.key_fields),
            ", ".join(event.EVENT_TYPE for event in topic.value_types),
            topic.cleanup.value,
        )
    console.print(table)
    streams = Table(
        Column("redis stream", no_wrap=True),
        "events",
        "max length",
        title="Redis streams",
        caption=f"each with a dead-letter stream <name>{DEAD_LETTER_SUFFIX}",
    )
    for stream in Streams.all():
        streams.add_row(
            stream.name, ", ".join(event.EVENT_TYPE for event in stream.value_types), f"~{stream.max_length}"
        )
    console.print(streams)


@workflows_app.command("worker")
def workflows_worker(
    name: str = typer.Option("zvt-workflows", help="Worker name shown in the Hatchet dashboard."),
    slots: int = typer.Option(50, help="Task runs served at once."),
) -> None:
    """Run the Hatchet workflow worker until interrupted."""
    from hatchet_workflows.worker import run_worker

    run_worker(name=name, slots=slots)


@app.command()
def smoke() -> None:
    """Send one event through every service (Kafka transaction, Redis group, PostgreSQL, Hatchet) and back."""
    from hatchet_workflows.worker import worker_command
    from zvt.processes import background_process
    from zvt.smoke import SMOKE_WORKER_NAME, run_smoke

    settings = get_settings()
    with background_process(worker_command(SMOKE_WORKER_NAME, slots=5)):
        results = asyncio.run(run_smoke(settings))
    table = Table("service", "result", "seconds", "detail", title="Stack smoke check")
    for result in results:
        table.add_row(
            result.service,
            "[green]ok[/green]" if result.ok else "[red]FAILED[/red]",
            f"{result.seconds:.3f}",
            result.detail,
        )
    console.print(table)
    console.print(f"Hatchet dashboard: {settings.hatchet_dashboard_url}")
    if not all(result.ok for result in results):
        raise typer.Exit(1)
