"""The API's users: one bearer token each, with a role, kept as SHA-256 digests in a 0600 file.

A token is 32 random bytes (base64url) behind a `zvt_` prefix: with that much entropy a plain digest is as
good as a slow password hash (nothing to guess), and checking it costs a microsecond, not a KDF per request.
The file is the only place a token's digest lives; the token itself is printed once by `zvt api tokens add`.
A running API rereads the file when it changes (checked at most every `RELOAD_SECONDS`), so adding or
revoking a user needs no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import orjson
from pydantic import SecretStr

from runtime.settings import Settings, credentials_dir
from schemas.signing import write_secret_file

TOKEN_PREFIX = "zvt_"
TOKEN_BYTES = 32
RELOAD_SECONDS = 1.0
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class Role(StrEnum):
    """What a user may do: read everything; and place and cancel orders; and (issue 17 item 2) the
    runtime controls. A risk officer reads and controls but does not trade."""

    VIEWER = "viewer"
    TRADER = "trader"
    RISK_OFFICER = "risk_officer"


class Permission(StrEnum):
    READ = "read"
    TRADE = "trade"
    CONTROL = "control"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.TRADER: frozenset({Permission.READ, Permission.TRADE}),
    Role.RISK_OFFICER: frozenset({Permission.READ, Permission.CONTROL}),
}


class TokenFileError(RuntimeError):
    """The tokens file is not a valid tokens file, or a change to it is refused."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: datetime

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> SecretStr:
    return SecretStr(TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES))


@dataclass(frozen=True)
class Tokens:
    """Users by the digest of their token (one token per user)."""

    by_digest: dict[str, User]

    def user_of(self, token: str) -> User | None:
        """The user whose token this is; the digest comparison is constant-time, token to token."""
        wanted = digest(token)
        for known, user in self.by_digest.items():
            if hmac.compare_digest(known, wanted):
                return user
        return None

    def users(self) -> list[User]:
        return sorted(self.by_digest.values(), key=lambda user: user.name)

    def with_user(self, name: str, role: Role, now: datetime | None = None) -> tuple[Tokens, SecretStr]:
        """A new token for `name` (replacing any it had: a lost token is reissued, never recovered)."""
        if not _USER.fullmatch(name):
            raise TokenFileError(f"user names are 1-64 of A-Z a-z 0-9 _ . @ -, not {name!r}")
        token = new_token()
        kept = {key: user for key, user in self.without(name).by_digest.items()}
        kept[digest(token.get_secret_value())] = User(name, role, now or datetime.now(UTC))
        return Tokens(kept), token

    def without(self, name: str) -> Tokens:
        return Tokens({key: user for key, user in self.by_digest.items() if user.name != name})

    def to_json(self) -> bytes:
        users = [
            {"user": u.name, "role": u.role.value, "sha256": key, "created_at": u.created_at.isoformat()}
            for key, u in sorted(self.by_digest.items(), key=lambda item: item[1].name)
        ]
        return orjson.dumps({"users": users}, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes, where: str = "tokens file") -> Tokens:
        try:
            entries = orjson.loads(data)["users"]
            users = {
                str(entry["sha256"]): User(
                    str(entry["user"]), Role(entry["role"]), datetime.fromisoformat(entry["created_at"])
                )
                for entry in entries
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TokenFileError(f"{where} is not a tokens file: {exc}") from None
        if len({user.name for user in users.values()}) != len(users):
            raise TokenFileError(f"{where} names a user twice")
        return cls(users)


EMPTY = Tokens({})


def tokens_path(settings: Settings) -> Path:
    return (
        Path(settings.api_tokens_file) if settings.api_tokens_file else credentials_dir() / "api-tokens.json"
    )


def read_tokens(path: Path) -> Tokens:
    """The file's users; none when it does not exist yet (every request is then refused)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return EMPTY
    return Tokens.from_json(data, str(path))


def write_tokens(path: Path, tokens: Tokens) -> None:
    """Replace the file atomically, readable by its owner only (as the signing keyring)."""
    write_secret_file(path, tokens.to_json())


class TokensFile:
    """The tokens of a running API, reread when the file changes. A file made unreadable keeps the last
    good tokens (a half-written edit must not lock every user out, nor let anyone in)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._tokens = EMPTY

    def current(self) -> Tokens:
        now = time.monotonic()
        if now - self._checked >= RELOAD_SECONDS:
            with self._lock:
                self._checked = now
                self._refresh()
        return self._tokens

    def _refresh(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._tokens = None, EMPTY
            return
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            try:
                self._tokens = read_tokens(self.path)
            except TokenFileError:
                return  # keep the last good ones; retried on the next check
            self._stamp = stamp
