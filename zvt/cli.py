"""The `zvt` command line: run the local stack, manage topics, start workers, check the platform."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Column, Table

from api import cli as api_cli
from eventstore import cli as eventstore_cli
from runtime.metrics import serve_metrics
from runtime.settings import ADMIN_KIND, REPO_ROOT, Settings, get_settings, process_kind, select_process_kind
from schemas import Event
from topics import Streams, Topics
from topics.registry import DEAD_LETTER_SUFFIX
from zvt.control import control_app

if TYPE_CHECKING:
    from eventstore.orders import ChangeAt, OrderView
    from trading.fill_audit import AuditFill

app = typer.Typer(help="Event-driven crypto trading platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack: PostgreSQL, Redis, Kafka and the Hatchet engine.")
topics_app = typer.Typer(help="Kafka topics and Redis streams of the registry.")
workflows_app = typer.Typer(help="Hatchet workflows.")
keys_app = typer.Typer(help="The signing keyring every event is signed and verified with (docs/security.md).")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(workflows_app, name="workflows")
app.add_typer(keys_app, name="keys")
app.add_typer(eventstore_cli.db_app, name="db")
app.command("sink")(eventstore_cli.sink)
app.command("trace")(eventstore_cli.trace)
app.command("replay")(eventstore_cli.replay)
app.add_typer(api_cli.api_app, name="api")
app.add_typer(control_app, name="control")

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


def _keyring_path() -> Path:
    from schemas.signing import default_keyring_path

    return default_keyring_path()


def _change_keyring(change: str, key_id: str | None = None) -> str:
    """Apply one rotation step to the keyring file; the key id it concerned."""
    from schemas.signing import KeyringError, read_keyring, write_keyring

    path = _keyring_path()
    try:
        ring = read_keyring(path)
        if change == "add":
            ring, key_id = ring.with_new_key(key_id)
        elif change == "activate":
            assert key_id is not None
            ring = ring.activated(key_id)
        else:
            assert key_id is not None
            ring = ring.retired(key_id)
    except KeyringError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    write_keyring(path, ring)
    return key_id


@keys_app.command("init")
def keys_init() -> None:
    """Make the keyring with one random key, unless it exists (the stack scripts call this)."""
    from schemas.signing import new_keyring, read_keyring, write_keyring

    path = _keyring_path()
    if path.exists():
        console.print(f"keyring {path}: active key {read_keyring(path).active}")
        return
    ring = new_keyring()
    write_keyring(path, ring)
    console.print(f"keyring {path} made: active key {ring.active}")


@keys_app.command("list")
def keys_list() -> None:
    """The key ids and which one signs (never the keys)."""
    from schemas.signing import read_keyring

    ring = read_keyring(_keyring_path())
    for key_id in ring.keys:
        console.print(f"{key_id}{'  (active: signs new events)' if key_id == ring.active else ''}")


@keys_app.command("add")
def keys_add(key_id: str = typer.Argument(None, help="Default: made from the time.")) -> None:
    """Step 1 of a rotation: a new key every process accepts, once it has reread the file (about a second)."""
    console.print(f"added {_change_keyring('add', key_id)} (accepted, not signing yet)")


@keys_app.command("activate")
def keys_activate(key_id: str) -> None:
    """Step 2: new events are signed with `key_id`; the old key stays accepted."""
    console.print(f"{_change_keyring('activate', key_id)} signs new events")


@keys_app.command("retire")
def keys_retire(key_id: str) -> None:
    """Step 3, once nothing signed with `key_id` is left to read: events signed with it are refused."""
    console.print(f"retired {_change_keyring('retire', key_id)}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Steps 1 and 2 without downtime: add a key, wait until every process has reread the keyring, make it
    the active key. The old key stays accepted until `zvt keys retire`."""
    import time

    from schemas.signing import RELOAD_SECONDS

    key_id = _change_keyring("add")
    console.print(f"added {key_id}; waiting {3 * RELOAD_SECONDS:.0f} s for every process to reread it")
    time.sleep(3 * RELOAD_SECONDS)
    _change_keyring("activate", key_id)
    console.print(f"{key_id} signs new events; retire the old key once its events are read")


@topics_app.command("create")
def topics_create(
    prefix: str = typer.Option(None, help="Name prefix (default: ZVT_TOPIC_PREFIX)."),
) -> None:
    """Create the registry's topics (dead letters too) and every principal's ACLs on them (idempotent)."""
    from topics.admin import ensure_topics

    settings = get_settings()
    results = asyncio.run(
        ensure_topics(settings, settings.topic_prefix if prefix is None else prefix, grant=True)
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
    """Print the registry: every topic and stream, its key, the events it carries and who may write it."""
    from topics.acls import writers

    table = Table(
        Column("kafka topic", no_wrap=True),
        "partitions",
        "key",
        Column("events", overflow="fold"),
        "cleanup",
        "written by (Kafka ACLs)",
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
            ", ".join(sorted(writers(topic))),
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
    select_process_kind("workflows")
    from hatchet_workflows.worker import run_worker

    run_worker(name=name, slots=slots)


workflows_run_app = typer.Typer(help="Start a workflow run and print its result.")
workflows_app.add_typer(workflows_run_app, name="run")


@workflows_run_app.command("place-order")
def workflows_run_place_order(
    account: str = typer.Option(..., help="Account id."),
    symbol: str = typer.Option(..., help="Unified symbol, e.g. BTC/USDT."),
    side: str = typer.Option(..., help="buy or sell."),
    quantity: str = typer.Option(..., help="Base quantity, e.g. 0.01."),
    limit_price: str = typer.Option(None, help="Limit price; makes it a limit order."),
    order_id: str = typer.Option(None, help="Client order id, the idempotency key (default: from the run)."),
    reference_price: str = typer.Option(None, help="Price the pre-check values a market order at."),
) -> None:
    """Place one order through `trading.place_order` (with `zvt workflows worker`, `zvt bridge` and
    `zvt worker` running) and print its outcome."""
    from hatchet_workflows.place_order.trigger import run_and_print

    raise typer.Exit(
        run_and_print(
            console,
            account_id=account,
            symbol=symbol,
            side=side,
            quantity=quantity,
            limit_price=limit_price,
            order_id=order_id,
            reference_price=reference_price,
        )
    )


@workflows_run_app.command("rebalance")
def workflows_run_rebalance(
    portfolio: str = typer.Option(..., help="Portfolio id."),
    account: str = typer.Option(..., help="Account id."),
    target: list[str] = typer.Option(..., help="SYMBOL=WEIGHT, repeated; weights add up to 1 at most."),
    price: list[str] = typer.Option(..., help="SYMBOL=PRICE for every target and holding, repeated."),
    position: list[str] = typer.Option([], help="SYMBOL=QUANTITY held now, repeated."),
    cash: str = typer.Option("0", help="Cash in the quote currency."),
    on_failure: str = typer.Option("finish", help="finish (keep what filled) or compensate (undo it)."),
) -> None:
    """Rebalance a portfolio to target weights through `portfolio.rebalance` (child place_order runs)."""
    from hatchet_workflows.rebalance.trigger import run_and_print

    raise typer.Exit(
        run_and_print(
            console,
            targets=target,
            prices=price,
            positions=position,
            portfolio_id=portfolio,
            account_id=account,
            cash=cash,
            on_failure=on_failure,
        )
    )


@app.command()
def bridge(
    streams: str = typer.Option("all", help="Comma-separated stream names (registry) to bridge, or 'all'."),
    batch: int = typer.Option(2000, help="Most records moved per Kafka poll or stream read."),
    loglevel: str = typer.Option("info", help="warning, info or debug."),
) -> None:
    """Forward the registry's Kafka topics into Redis streams and back, until SIGTERM or SIGINT."""
    select_process_kind("bridge")
    import logging

    from bridge import ConsumerConfig, Routes, run_bridge

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        routes = Routes.of() if streams == "all" else Routes.named(s.strip() for s in streams.split(","))
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    settings = get_settings()
    serve_metrics(settings.bridge_metrics_port, settings.metrics_host)
    asyncio.run(ensure_topics_for(settings))
    stats = asyncio.run(run_bridge(settings, routes, ConsumerConfig(batch=batch)))
    console.print(stats.line())


@app.command()
def smoke() -> None:
    """Send one event through every service (Kafka transaction, Redis group, PostgreSQL, Hatchet) and back."""
    select_process_kind("smoke")
    from hatchet_workflows.worker import worker_command
    from runtime.processes import background_process
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


publish_app = typer.Typer(help="Publish orders and ticks into the input topics; prints what was sent.")
app.add_typer(publish_app, name="publish")


def _publish(events: list[Event]) -> None:
    from runtime.producer import publish_events
    from zvt.publish import event_summary

    select_process_kind("publisher")
    sent = asyncio.run(publish_events(get_settings(), events))
    table = Table(
        "event",
        "event_id",
        Column("topic", no_wrap=True),
        "partition@offset",
        Column("fields", overflow="fold"),
    )
    for item in sent:
        table.add_row(
            item.event.event_type,
            str(item.event.event_id),
            item.topic,
            f"{item.partition}@{item.offset}",
            event_summary(item.event),
        )
    console.print(table)


def _build(model: type[Event], **fields: object) -> Event:
    from pydantic import ValidationError

    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        console.print(f"[red]invalid {model.EVENT_TYPE}:[/red] {exc}")
        raise typer.Exit(2) from exc


@publish_app.command("order")
def publish_order(
    account: str = typer.Option(..., help="Account id."),
    symbol: str = typer.Option(..., help="Unified symbol, e.g. BTC/USDT."),
    side: str = typer.Option(..., help="buy or sell."),
    quantity: str = typer.Option(..., help="Base quantity, e.g. 0.01."),
    price: str = typer.Option(None, help="Limit price; makes it a limit order."),
    venue: str = typer.Option(None, help="Preferred venue (the router decides when empty)."),
    order_id: str = typer.Option(None, help="Client order id (default: a fresh one)."),
    strategy: str = typer.Option(None, help="Strategy id."),
    tif: str = typer.Option("gtc", help="gtc, ioc or fok."),
) -> None:
    """Request one order (orders.requested)."""
    import uuid

    from schemas import OrderRequested

    _publish(
        [
            _build(
                OrderRequested,
                order_id=order_id or f"cli-{uuid.uuid4().hex[:16]}",
                account_id=account,
                strategy_id=strategy,
                symbol=symbol,
                side=side,
                order_type="limit" if price else "market",
                quantity=quantity,
                limit_price=price,
                time_in_force=tif,
                venue=venue,
            )
        ]
    )


@publish_app.command("trade")
def publish_trade(
    venue: str = typer.Option(...),
    symbol: str = typer.Option(...),
    price: str = typer.Option(...),
    quantity: str = typer.Option(...),
    trade_id: str = typer.Option(None),
) -> None:
    """Publish one trade tick (market.ticks), stamped now."""
    import uuid
    from datetime import UTC, datetime

    from schemas import TradeTick

    _publish(
        [
            _build(
                TradeTick,
                venue=venue,
                symbol=symbol,
                trade_id=trade_id or uuid.uuid4().hex[:16],
                price=price,
                quantity=quantity,
                market_time=datetime.now(UTC),
            )
        ]
    )


@publish_app.command("quote")
def publish_quote(
    venue: str = typer.Option(...),
    symbol: str = typer.Option(...),
    bid: str = typer.Option(...),
    ask: str = typer.Option(...),
    bid_size: str = typer.Option(...),
    ask_size: str = typer.Option(...),
) -> None:
    """Publish one top-of-book quote tick (market.ticks), stamped now."""
    from datetime import UTC, datetime

    from schemas import QuoteTick

    _publish(
        [
            _build(
                QuoteTick,
                venue=venue,
                symbol=symbol,
                bid_price=bid,
                ask_price=ask,
                bid_size=bid_size,
                ask_size=ask_size,
                market_time=datetime.now(UTC),
            )
        ]
    )


@publish_app.command("file")
def publish_file(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Publish every event of a JSON-lines file to its topic, in file order (all validated first)."""
    from zvt.publish import EventFileError, read_event_file

    try:
        events = list(read_event_file(path))
    except EventFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _publish(events)


def _ask_for_change(
    order_id: str, account: str | None, build: Callable[[OrderView | None, str], Event], wait: float
) -> None:
    """Publish a change request for an order (in its chain, as `build` makes it from what the event store
    says of the order) and print its answer; exit 0 if it took effect, 1 if refused, 3 if unanswered."""
    from pydantic import ValidationError

    from eventstore.db import connect
    from eventstore.orders import load_order
    from eventstore.trace import describe
    from runtime.producer import publish_events
    from runtime.settings import load_settings
    from schemas import OrderAmended, OrderCanceled
    from zvt.order_changes import wait_for_answer

    async def ask() -> Event | None:
        connection = await connect(get_settings().postgres_url())
        try:
            order = await load_order(connection, order_id)
            if order is None and account is None:
                console.print(
                    f"[red]the event store has no order {order_id!r}[/red]: give --account to ask anyway"
                )
                raise typer.Exit(2)
            if order is not None and account not in (None, order.account_id):
                console.print(f"[red]{order_id} is an order of {order.account_id}, not of {account}[/red]")
                raise typer.Exit(2)
            try:
                request = build(order, order.account_id if order is not None else str(account))
            except ValidationError as exc:  # an amend that changes nothing, a negative quantity
                console.print(f"[red]invalid request:[/red] {exc}")
                raise typer.Exit(2) from exc
            # The publisher principal writes the input topics; the store is read as the operator.
            (sent,) = await publish_events(load_settings(kind="publisher"), [request])
            console.print(
                f"{request.event_type} {request.event_id} -> {sent.topic} {sent.partition}@{sent.offset}"
            )
            return await wait_for_answer(connection, request, order_id, wait)
        finally:
            await connection.close()

    answer = asyncio.run(ask())
    if answer is None:
        console.print(
            f"[yellow]no answer stored within {wait:.0f} s[/yellow] (do `zvt worker` with "
            "ZVT_PAPER_ENGINE=true and `zvt sink` run? see `zvt trace`)"
        )
        raise typer.Exit(3)
    done = isinstance(answer, OrderCanceled | OrderAmended)
    console.print(f"[{'green' if done else 'red'}]{answer.event_type}[/] {describe(answer)}")
    if not done:
        raise typer.Exit(1)


_AT_HELP = "The request's market time: now (empty, as an order by hand) or order (the order's last one)."


@app.command()
def cancel(
    order_id: str = typer.Argument(..., help="The order id (client order id)."),
    account: str = typer.Option(None, help="The order's account (needed only for an order the store lacks)."),
    at: str = typer.Option("now", help=_AT_HELP),
    wait: float = typer.Option(15.0, min=0, help="Seconds to wait for the answer in the event store."),
) -> None:
    """Ask to cancel an order (order.cancel_requested in the order's chain) and print the answer: canceled,
    or refused with the reason (unknown_order, already_filled, ...)."""
    from eventstore.orders import cancel_request

    when = _change_at(at)
    _ask_for_change(
        order_id, account, lambda order, acct: cancel_request(order_id, acct, order, at=when), wait
    )


@app.command()
def amend(
    order_id: str = typer.Argument(..., help="The order id (client order id)."),
    quantity: str = typer.Option(None, help="The new total quantity, filled part included."),
    price: str = typer.Option(None, help="The new limit price."),
    account: str = typer.Option(None, help="The order's account (needed only for an order the store lacks)."),
    at: str = typer.Option("now", help=_AT_HELP),
    wait: float = typer.Option(15.0, min=0, help="Seconds to wait for the answer in the event store."),
) -> None:
    """Ask to change a working order's quantity or limit price and print the answer."""
    from decimal import Decimal, InvalidOperation

    from eventstore.orders import amend_request

    when = _change_at(at)
    try:
        new_quantity, new_price = (None if v is None else Decimal(v) for v in (quantity, price))
    except InvalidOperation as exc:
        console.print(f"[red]not a number:[/red] {quantity or ''} {price or ''}")
        raise typer.Exit(2) from exc
    _ask_for_change(
        order_id,
        account,
        lambda order, acct: amend_request(
            order_id, acct, order, quantity=new_quantity, limit_price=new_price, at=when
        ),
        wait,
    )


def _change_at(at: str) -> ChangeAt:
    if at not in ("now", "order"):
        console.print(f"[red]--at is now or order, not {at!r}[/red]")
        raise typer.Exit(2)
    return "now" if at == "now" else "order"


@app.command()
def orders(
    account: str = typer.Option(None, help="Only this account's orders."),
    days: float = typer.Option(7.0, min=0, help="Orders validated within this many days."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per order instead of a table."),
) -> None:
    """The open orders in the event store: validated (resting, partly filled, on their way) and not ended."""
    from datetime import UTC, datetime, timedelta

    import orjson

    from eventstore.db import connect
    from eventstore.orders import open_orders

    async def load() -> list[OrderView]:
        connection = await connect(get_settings().postgres_url())
        try:
            return await open_orders(
                connection, since=datetime.now(UTC) - timedelta(days=days), account_id=account
            )
        finally:
            await connection.close()

    found = asyncio.run(load())
    now = datetime.now(UTC)
    if as_json:
        for view in found:
            row = {k: (str(v) if v is not None else None) for k, v in vars(view).items()}
            print(orjson.dumps(row | {"age_seconds": (now - view.requested_at).total_seconds()}).decode())
        return
    table = Table(
        "order",
        "account",
        "symbol",
        "side",
        "type",
        "price",
        "quantity",
        "filled",
        "state",
        "venue",
        "age",
        title=f"Open orders ({len(found)})",
    )
    for view in found:
        price = view.limit_price if view.limit_price is not None else view.stop_price
        table.add_row(
            view.order_id,
            view.account_id,
            view.symbol,
            view.side,
            view.order_type,
            "" if price is None else str(price),
            str(view.quantity),
            str(view.filled),
            view.state,
            view.venue or "",
            str(timedelta(seconds=round((now - view.requested_at).total_seconds()))),
        )
    Console(width=max(console.width, 130)).print(table)


@app.command()
def worker(
    agents: str = typer.Option("all", help="Comma-separated agents to run, or 'all'."),
    loglevel: str = typer.Option("warn", help="crit, error, warn, info or debug."),
) -> None:
    """Run Faust agents (web monitor on ZVT_WEB_HOST:ZVT_WEB_PORT, 127.0.0.1:6066 by default)."""
    select_process_kind("agents")
    from agents.worker import AGENT_MODULES, run_worker

    chosen = list(AGENT_MODULES) if agents == "all" else [name.strip() for name in agents.split(",")]
    asyncio.run(ensure_topics_for(get_settings()))
    try:
        run_worker(chosen, loglevel=loglevel)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def demo(web_port: int = typer.Option(6066, help="Port of the demo worker's Faust web monitor.")) -> None:
    """Run the agents on recorded binance book tops and a few orders; print fills, rejections, positions."""
    from zvt.demo import outcome_rows, run_demo

    settings = get_settings()
    asyncio.run(ensure_topics_for(settings))
    result = asyncio.run(run_demo(settings, web_port))
    orders = Table(
        "account", "symbol", "side", "quantity", "outcome", "filled", "price", "fee", title="Orders"
    )
    for row in outcome_rows(result):
        orders.add_row(*row)
    wide = Console(width=max(console.width, 130))
    wide.print(orders)
    positions = Table(
        "account", "symbol", "quantity", "avg cost", "realized", "unrealized", "fees", title="Positions"
    )
    for (account, symbol), p in sorted(result.positions.items()):
        positions.add_row(
            account,
            symbol,
            str(p.quantity),
            f"{p.average_cost:.2f}",
            str(p.realized_pnl),
            f"{p.unrealized_pnl:.4f}",
            str(p.fees_paid),
        )
    wide.print(positions)
    console.print(f"The demo worker's Faust web monitor was at http://127.0.0.1:{web_port}/ (/zvt/market/)")


def parse_capital(text: str) -> Decimal:
    """A positive amount, exactly as written."""
    try:
        amount = Decimal(text)
    except ArithmeticError:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"--capital must be a positive amount, got {text!r}")
    return amount


@app.command()
def session(
    files: list[Path] = typer.Argument(
        None, exists=True, dir_okay=False, help="Recorded ticks; the bundled binance sample by default."
    ),
    speed: str = typer.Option("max", help="Replay speed: times real time, or max."),
    limit: int = typer.Option(None, min=1, help="Replay only the first N ticks of the merged files."),
    report_dir: Path = typer.Option(Path(".run/session"), help="Where session.json and equity.png go."),
    quiet: float = typer.Option(5.0, min=0.5, help="Seconds without new events that end the session."),
    within: float = typer.Option(240.0, min=10, help="Longest the session may take, in seconds."),
    rebalance: bool = typer.Option(True, help="Run the portfolio rebalance workflow after the replay."),
    keep_topics: bool = typer.Option(False, help="Keep the session's Kafka topics (deleted by default)."),
    workers: int = typer.Option(1, min=1, help="Agent worker processes sharing the topics' partitions."),
    capital: str = typer.Option(
        "10000", help="Each strategy's capital, in quote currency: what its returns are taken on."
    ),
    period: float = typer.Option(1.0, min=0.001, help="Seconds of market time between the returns."),
) -> None:
    """Run the strategies on recorded market data through the whole pipeline; print and write a report."""
    from datetime import timedelta

    from marketreplay.timeline import parse_speed
    from reports.session import write_report
    from trading.analytics import Basis
    from zvt.session import DEFAULT_FILES, SessionRebalance, print_session, run_session

    try:
        pace = parse_speed(speed)
        basis = Basis(capital=parse_capital(capital), period=timedelta(seconds=period))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # fresh topics: leaders are still being elected
    settings = get_settings()
    run = asyncio.run(
        run_session(
            settings,
            files=files or DEFAULT_FILES,
            speed=pace,
            limit=limit,
            quiet=quiet,
            within=within,
            rebalance=SessionRebalance() if rebalance else None,
            keep_topics=keep_topics,
            workers=workers,
            log_dir=report_dir,
            basis=basis,
        )
    )
    report, chart, page = write_report(run.figures, report_dir)
    print_session(Console(width=max(console.width, 130)), run)
    console.print(f"Report: {report}  Equity chart: {chart}  Page: {page}")
    if run.timed_out:
        console.print(f"[red]The session did not finish within {within:.0f} s; the report is partial.[/red]")
        raise typer.Exit(1)
    if run.rebalance is not None and run.rebalance.result is None:
        console.print("[red]The rebalance workflow did not run to an outcome (see workflows.log).[/red]")
        raise typer.Exit(1)


@app.command()
def audit(
    files: list[Path] = typer.Argument(
        None, exists=True, dir_okay=False, help="The recorded ticks the session ran on (default: its sample)."
    ),
    report: Path = typer.Option(None, exists=True, dir_okay=False, help="A session's session.json."),
    prefix: str = typer.Option(None, help="Or a session's topic prefix: its fills from the event store."),
) -> None:
    """Check every paper fill against the recorded market: a taker fill at the price and within the size
    of the book in force (never a stale one), a maker fill at its limit where trades or books went
    through it. Lists each violation; exits 1 if there is any (docs/order-lifecycle.md, the audit)."""
    import orjson

    from agents.settings import get_trading_config
    from eventstore.db import connect
    from trading.fill_audit import audit_fills
    from zvt.audit import audit_rules, fills_from_report, fills_from_store, latency_of, recorded_market
    from zvt.session import DEFAULT_FILES

    if (report is None) == (prefix is None):
        console.print("[red]give one of --report or --prefix[/red]")
        raise typer.Exit(2)
    paper = get_trading_config().paper
    if report is not None:
        fills = fills_from_report(orjson.loads(report.read_bytes()), latency_of(paper))
    else:

        async def stored() -> list[AuditFill]:
            connection = await connect(get_settings().postgres_url())
            try:
                return await fills_from_store(connection, prefix, latency_of(paper))
            finally:
                await connection.close()

        fills = asyncio.run(stored())
    violations = audit_fills(fills, recorded_market(files or DEFAULT_FILES), audit_rules(paper))
    makers = sum(1 for fill in fills if fill.liquidity == "maker")
    console.print(f"{len(fills)} fills audited ({len(fills) - makers} taker, {makers} maker)")
    for violation in violations:
        console.print(f"[red]violation[/red] {violation.line()}", soft_wrap=True)
    if violations:
        console.print(f"[red]{len(violations)} violations[/red]")
        raise typer.Exit(1)
    if not fills:
        console.print("[yellow]no fills to audit[/yellow]")


@app.command("replay-market")
def replay_market(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="Recorded trades/quotes (CSV or parquet)."
    ),
    speed: str = typer.Option("max", help="Times real time (1 = as recorded, 10 = ten times faster) or max."),
    limit: int = typer.Option(None, min=1, help="Send only the first N events of the merged stream."),
    max_gap: float = typer.Option(
        60.0, min=0, help="Longest wait, in seconds of market time, between events."
    ),
) -> None:
    """Publish recorded ticks into the tick topic in market-time order, optionally at the recorded pace."""
    select_process_kind("publisher")
    from datetime import timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from marketreplay.readers import ReplayFileError
    from marketreplay.timeline import parse_speed
    from zvt.replay_market import count_ticks
    from zvt.replay_market import replay_market as run_replay

    try:
        pace = parse_speed(speed)
        total = count_ticks(files, limit)
    except (ValueError, ReplayFileError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    settings = get_settings()
    asyncio.run(ensure_topics_for(settings))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[at]}"), console=console) as progress:
        task = progress.add_task(f"replay x{speed}", total=total, at="")
        stats = asyncio.run(
            run_replay(
                settings,
                files,
                pace,
                limit=limit,
                max_gap=timedelta(seconds=max_gap),
                on_sent=lambda tick: progress.update(task, advance=1, at=tick.market_time.isoformat()),
            )
        )
    table = Table("venue", "symbol", "trades", "quotes", "first (market time)", "last", title="Replayed")
    for line in stats.lines():
        table.add_row(
            line.venue, line.symbol, str(line.trades), str(line.quotes), str(line.first), str(line.last)
        )
    console.print(table)
    console.print(
        f"{stats.events} events spanning {stats.span} of market time, sent in {stats.wall_seconds:.1f} s "
        f"({stats.rate:,.0f} events/s) to {Topics.MARKET_TICKS.full_name(settings.topic_prefix)}"
    )


async def ensure_topics_for(settings: Settings) -> None:
    """Topics (and their ACLs) for a process run by the operator; the principal of a bridge, a worker or a
    publisher may not create topics: those find them made by `zvt topics create` (deploy/run.sh)."""
    from topics.admin import ensure_topics

    if process_kind() == ADMIN_KIND:
        await ensure_topics(settings, settings.topic_prefix)
