"""`zvt api`: serve the API (`zvt api`, or `zvt api serve`), and manage its users' tokens."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from api.tokens import Role, TokenFileError, read_tokens, tokens_path, write_tokens
from runtime.settings import get_settings, select_process_kind

api_app = typer.Typer(help="The operator's REST/WebSocket API (docs/api.md).", invoke_without_command=True)
tokens_app = typer.Typer(help="The API's users and their bearer tokens (stored hashed, 0600).")
api_app.add_typer(tokens_app, name="tokens")
console = Console()

_HOST = "Address to bind (default ZVT_API_HOST, loopback). Anything else exposes order placement."


@api_app.callback()
def api(
    context: typer.Context,
    host: str = typer.Option(None, help=_HOST),
    port: int = typer.Option(None, help="Port (default ZVT_API_PORT, 8077)."),
    loglevel: str = typer.Option("warning", help="uvicorn's: critical, error, warning, info, debug."),
) -> None:
    """Serve the API until interrupted (OpenAPI docs at /docs)."""
    if context.invoked_subcommand is None:
        serve(host, port, loglevel)


@api_app.command("serve")
def serve(
    host: str = typer.Option(None, help=_HOST),
    port: int = typer.Option(None, help="Port (default ZVT_API_PORT, 8077)."),
    loglevel: str = typer.Option("warning", help="uvicorn's: critical, error, warning, info, debug."),
) -> None:
    """Serve the API until interrupted (OpenAPI docs at /docs)."""
    select_process_kind("api")
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    app = create_app(settings)
    # No access log: a browser's WebSocket carries its token in the query string (`?token=`), and a log is
    # no place for a token; zvt_api_requests_total counts the requests instead.
    uvicorn.run(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level=loglevel,
        access_log=False,
    )


@tokens_app.command("add")
def tokens_add(
    user: str = typer.Argument(..., help="The user's name."),
    role: Role = typer.Option(
        ..., help="viewer (reads), trader (also orders), risk_officer (also controls)."
    ),
) -> None:
    """Make (or remake) a user's token and print it, once: only its SHA-256 digest is kept."""
    path = tokens_path(get_settings())
    try:
        tokens, token = read_tokens(path).with_user(user, role)
    except TokenFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    write_tokens(path, tokens)
    console.print(f"{user} ({role.value}) in {path}; the token, shown only now:", style="green")
    print(token.get_secret_value())


@tokens_app.command("list")
def tokens_list() -> None:
    """The users and their roles (never the tokens)."""
    path = tokens_path(get_settings())
    table = Table("user", "role", "created", title=str(path))
    for user in read_tokens(path).users():
        table.add_row(user.name, user.role.value, user.created_at.isoformat(timespec="seconds"))
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(user: str = typer.Argument(..., help="The user whose token stops working.")) -> None:
    """Remove a user's token; a running API refuses it within a second."""
    path = tokens_path(get_settings())
    tokens = read_tokens(path)
    if user not in {known.name for known in tokens.users()}:
        console.print(f"[red]no user {user!r} in {path}[/red]")
        raise typer.Exit(1)
    write_tokens(path, tokens.without(user))
    console.print(f"revoked {user}")
