"""`zvt db ...`, `zvt replay`, `zvt trace` and `zvt sink`: the event store's commands."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console

from runtime.settings import get_settings, select_process_kind

if TYPE_CHECKING:
    from eventstore.replay import TimeRange

db_app = typer.Typer(help="The event store's PostgreSQL schema: migrations, partitions, retention.")
console = Console()


async def _migrate(dsn: str) -> None:
    from eventstore.db import connect
    from eventstore.migrate import migrate
    from eventstore.partitions import ensure_ahead

    connection = await connect(dsn)
    try:
        applied = await migrate(connection)
        created = await ensure_ahead(connection, datetime.now(UTC))
    finally:
        await connection.close()
    for migration in applied:
        console.print(f"applied migration {migration.version:04d}_{migration.name}")
    if not applied:
        console.print("schema up to date")
    if created:
        console.print(f"created partitions: {', '.join(created)}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations and create the time partitions ahead (idempotent)."""
    asyncio.run(_migrate(get_settings().postgres_url()))


def sink() -> None:
    """Store every event topic in the event store, effectively once, until SIGTERM."""
    select_process_kind("sink")
    from eventstore.sink import run_sink
    from runtime.metrics import serve_metrics

    serve_metrics(get_settings().sink_metrics_port, get_settings().metrics_host)
    asyncio.run(run_sink(get_settings(), console))


async def _trace(dsn: str, reference: str) -> bool:
    from eventstore.db import connect
    from eventstore.store import read_correlations
    from eventstore.trace import build, find, render
    from hatchet_workflows.trace import fetch_earlier_attempts, fetch_run, render_run, run_view

    run = await fetch_run(reference) if _is_uuid(reference) else None
    connection = await connect(dsn)
    try:
        if run is not None:  # a workflow run: its steps, then its orders' events
            view = await fetch_earlier_attempts(run_view(run))
            console.print(render_run(view, build(await read_correlations(connection, view.correlation_ids))))
            return True
        events = await find(connection, reference)
    finally:
        await connection.close()
    if not events:
        return False
    span = max(e.timestamp for e in events) - min(e.timestamp for e in events)
    title = f"{reference}: {len(events)} events over {span.total_seconds() * 1000:.1f} ms"
    console.print(render(build(events), title))
    return True


def _is_uuid(reference: str) -> bool:
    try:
        UUID(reference)
    except ValueError:
        return False
    return True


def trace(
    reference: str = typer.Argument(
        ..., help="A workflow run id, a correlation id, an event id or an order id."
    ),
) -> None:
    """Print the causal chain of one order or workflow run, with each step's latency (a workflow run's
    steps come from the Hatchet engine, with the time the engine took before each)."""
    if not asyncio.run(_trace(get_settings().postgres_url(), reference)):
        console.print(f"no events for {reference!r}")
        raise typer.Exit(1)


async def _replay(dsn: str, window: TimeRange, check_only: bool) -> list[str]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from eventstore.db import connect
    from eventstore.projections import load
    from eventstore.replay import check, count, rebuild

    connection = await connect(dsn)
    try:
        total = await count(connection, window)
        columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("replay", total=total)
            started = time.perf_counter()
            models = await rebuild(
                connection, window, on_page=lambda n: progress.advance(task, n), dry_run=check_only
            )
            seconds = time.perf_counter() - started
        differences = check(await load(connection), models) if check_only else []
    finally:
        await connection.close()
    console.print(
        f"{total:,} events in {seconds:.2f} s ({total / max(seconds, 1e-9):,.0f}/s): {len(models.positions)} "
        f"positions, {len(models.portfolios())} portfolios, {len(models.correlations)} flows"
        + (" checked against the live read models" if check_only else " written")
    )
    return differences


def replay(
    since: Annotated[
        datetime | None, typer.Option(help="Only events at or after this time (default UTC).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Only events before this time.")] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Compare with the live read models; write nothing.")
    ] = False,
) -> None:
    """Rebuild the read models (positions, portfolios, flows) from the event store."""
    from eventstore.replay import TimeRange

    def aware(moment: datetime | None) -> datetime | None:
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)

    differences = asyncio.run(
        _replay(get_settings().postgres_url(), TimeRange(aware(since), aware(until)), check_only)
    )
    for difference in differences:
        console.print(f"[red]differs[/red] {difference}")
    if differences:
        raise typer.Exit(1)


async def _retention(dsn: str, older_than_days: int, archive_dir: Path | None, dry_run: bool) -> None:
    from eventstore.db import connect
    from eventstore.retention import retire

    connection = await connect(dsn)
    try:
        cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
        retired = await retire(connection, cutoff, archive_dir=archive_dir, dry_run=dry_run)
    finally:
        await connection.close()
    verb = "would drop" if dry_run else "dropped"
    for item in retired:
        where = f", archived to {item.archive}" if item.archive else ""
        console.print(f"{verb} {item.partition.name} ({item.rows} rows){where}")
    if not retired:
        console.print(f"no partition holds only rows older than {cutoff:%Y-%m-%d}")


@db_app.command("retention")
def db_retention(
    older_than_days: Annotated[
        int, typer.Option(help="Drop partitions whose rows are all older than this.")
    ] = 365,
    archive_dir: Annotated[
        Path | None, typer.Option(help="Copy each partition to <dir>/<name>.csv first.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be dropped.")] = False,
) -> None:
    """Drop (or archive, then drop) old monthly partitions of trading_events and performance_metrics."""
    asyncio.run(_retention(get_settings().postgres_url(), older_than_days, archive_dir, dry_run))
