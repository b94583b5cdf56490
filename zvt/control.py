"""`zvt control`: the runtime controls from the command line, as the operator (docs/controls.md).

Each change is a signed control command on `control.commands` naming the operator (`--by`, default the
login name) and the reason; every agent worker applies it once it has read it. Published as the admin
principal, which the Kafka ACLs let write the control topic (the agents may not)."""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from runtime.controls import read_control_log
from runtime.producer import publish_events
from runtime.settings import get_settings
from schemas import AccountLimitsSet, ControlCommand, KillSwitchSet, StrategyHaltSet
from trading.controls import ControlState, Setting

control_app = typer.Typer(help="Runtime controls: kill switches, strategy halts, limits (docs/controls.md).")
console = Console()

REASON = typer.Option(..., "--reason", help="Why: stored with the command and shown with the state.")
BY = typer.Option(None, "--by", help="Who issues it (default: your login name).")


def _issue(kind: type[ControlCommand], by: str | None, **fields: Any) -> None:
    """Validate, publish and wait for Kafka's ack; a refused command exits 2 saying why."""
    try:
        command = kind(issued_by=by or getpass.getuser(), **fields)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            console.print(f"[red]refused: {where + ': ' if where else ''}{error['msg']}[/red]")
        raise typer.Exit(2) from None
    [sent] = asyncio.run(publish_events(get_settings(), [command]))
    console.print(
        f"{command.event_type} {command.scope} by {command.issued_by}: {sent.topic}[{sent.partition}]@"
        f"{sent.offset} (event {command.event_id})"
    )


@control_app.command("kill-switch")
def kill_switch(
    state: str = typer.Argument(..., help="on (refuse every new order) or off."),
    account: str = typer.Option(None, "--account", help="One account's switch (default: the global one)."),
    reason: str = REASON,
    by: str = BY,
) -> None:
    """Engage or release the global kill switch, or one account's."""
    if state not in ("on", "off"):
        console.print(f"[red]refused: on or off, not {state!r}[/red]")
        raise typer.Exit(2)
    _issue(KillSwitchSet, by, engaged=state == "on", account_id=account, reason=reason)


@control_app.command("halt")
def halt(strategy: str, reason: str = REASON, by: str = BY) -> None:
    """Halt a strategy: it decides on no more prices, so it sends no orders, until resumed."""
    _issue(StrategyHaltSet, by, strategy_id=strategy, halted=True, reason=reason)


@control_app.command("resume")
def resume(strategy: str, reason: str = REASON, by: str = BY) -> None:
    """Resume a halted strategy, from the next price on."""
    _issue(StrategyHaltSet, by, strategy_id=strategy, halted=False, reason=reason)


@control_app.command("limits")
def limits(
    account: str,
    changes: list[str] = typer.Argument(None, help="field=value ... e.g. max_order_notional=5000"),
    reset: list[str] = typer.Option([], "--reset", help="A limit given back to its configured value."),
    reason: str = REASON,
    by: str = BY,
) -> None:
    """Change some of an account's risk limits at runtime (or --reset them to the configured value)."""
    parsed: dict[str, str] = {}
    for change in changes or []:
        name, equals, value = change.partition("=")
        if not equals or not name or not value:
            console.print(f"[red]refused: {change!r} is not field=value[/red]")
            raise typer.Exit(2)
        parsed[name.strip()] = value.strip()
    _issue(AccountLimitsSet, by, account_id=account, limits=parsed, reset=tuple(reset), reason=reason)


def _row(table: Table, what: str, setting: Setting, shown: str) -> None:
    table.add_row(what, shown, setting.issued_by, setting.at.isoformat(timespec="seconds"), setting.reason)


def state_table(state: ControlState) -> Table:
    table = Table("control", "state", "by", "at", "reason", title=f"Control state ({state.applied} commands)")
    if state.global_kill is not None:
        _row(table, "kill switch (global)", state.global_kill, "ON" if state.global_kill.on else "off")
    for account, setting in sorted(state.account_kills.items()):
        _row(table, f"kill switch {account}", setting, "ON" if setting.on else "off")
    for strategy, setting in sorted(state.strategy_halts.items()):
        _row(table, f"strategy {strategy}", setting, "HALTED" if setting.on else "running")
    for account, changed in sorted(state.limits.items()):
        for name, limit in sorted(changed.items()):
            at = limit.at.isoformat(timespec="seconds")
            table.add_row(f"{account} {name}", str(limit.value), limit.issued_by, at, limit.reason)
    return table


@control_app.command("show")
def show() -> None:
    """The control state the workers apply: the fold of every command on the control topic."""
    found = asyncio.run(read_control_log(get_settings()))
    console.print(state_table(found.state))
    for refusal in found.refused:
        console.print(f"[yellow]refused record {refusal}[/yellow]")
