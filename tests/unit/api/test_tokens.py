"""API tokens: stored as digests only, 0600, one per user, reread on change; roles and their rights."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from api.tokens import (
    EMPTY,
    RELOAD_SECONDS,
    TOKEN_PREFIX,
    Permission,
    Role,
    TokenFileError,
    TokensFile,
    digest,
    read_tokens,
    write_tokens,
)


def test_a_token_is_kept_as_its_digest_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    tokens, token = EMPTY.with_user("alice", Role.TRADER)
    write_tokens(path, tokens)
    secret = token.get_secret_value()
    assert secret.startswith(TOKEN_PREFIX)
    assert secret not in path.read_text()
    assert digest(secret) in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "**" in repr(token)  # a printed SecretStr hides it


def test_the_file_round_trips_and_names_each_token_s_user(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    tokens, alice = EMPTY.with_user("alice", Role.TRADER)
    tokens, bob = tokens.with_user("bob", Role.VIEWER)
    write_tokens(path, tokens)
    again = read_tokens(path)
    found = again.user_of(alice.get_secret_value())
    assert found is not None
    assert (found.name, found.role) == ("alice", Role.TRADER)
    assert again.user_of(bob.get_secret_value()) == tokens.user_of(bob.get_secret_value())
    assert again.user_of(alice.get_secret_value() + "x") is None
    assert again.user_of("") is None


def test_a_reissued_token_replaces_the_old_one() -> None:
    tokens, first = EMPTY.with_user("alice", Role.VIEWER)
    tokens, second = tokens.with_user("alice", Role.TRADER)
    assert tokens.user_of(first.get_secret_value()) is None
    user = tokens.user_of(second.get_secret_value())
    assert user is not None
    assert user.role is Role.TRADER
    assert [u.name for u in tokens.users()] == ["alice"]


def test_revoking_removes_the_user() -> None:
    tokens, token = EMPTY.with_user("alice", Role.TRADER)
    assert tokens.without("alice").user_of(token.get_secret_value()) is None


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "bad/name"])
def test_user_names_are_checked(name: str) -> None:
    with pytest.raises(TokenFileError):
        EMPTY.with_user(name, Role.VIEWER)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{}",
        b'{"users": [{"user": "a"}]}',
        b'{"users": [{"user": "a", '
        b'"role": "admin", "sha256": "x", "created_at": "2026-01-01T00:00:00+00:00"}]}',
    ],
)
def test_a_broken_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(TokenFileError):
        read_tokens(path)


def test_no_file_means_no_users(tmp_path: Path) -> None:
    assert read_tokens(tmp_path / "missing.json").users() == []


def test_roles_and_their_rights() -> None:
    tokens, viewer = EMPTY.with_user("v", Role.VIEWER)
    tokens, trader = tokens.with_user("t", Role.TRADER)
    tokens, officer = tokens.with_user("r", Role.RISK_OFFICER)
    rights = {
        name: {p for p in Permission if user.may(p)}
        for name, user in (
            (n, tokens.user_of(t.get_secret_value()))
            for n, t in (("v", viewer), ("t", trader), ("r", officer))
        )
        if user is not None
    }
    assert rights == {
        "v": {Permission.READ},
        "t": {Permission.READ, Permission.TRADE},
        "r": {Permission.READ, Permission.CONTROL},
    }


def test_a_running_api_sees_a_new_user_and_keeps_the_last_good_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    watched = TokensFile(path)
    assert watched.current().users() == []
    tokens, token = EMPTY.with_user("alice", Role.TRADER)
    write_tokens(path, tokens)
    watched._checked -= RELOAD_SECONDS  # as if a second had passed
    assert watched.current().user_of(token.get_secret_value()) is not None
    path.write_bytes(b"half written")
    os.utime(path, ns=(1, 1))
    watched._checked -= RELOAD_SECONDS
    assert watched.current().user_of(token.get_secret_value()) is not None
