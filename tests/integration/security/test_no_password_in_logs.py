"""No generated password in any log of the stack's services or in the shared env file, and every
credentials file is readable by its owner only."""

from __future__ import annotations

import stat

import pytest

from runtime.settings import credentials_dir, default_env_file, run_dir

pytestmark = pytest.mark.integration


def passwords() -> dict[str, str]:
    found = {}
    for path in credentials_dir().iterdir():
        if not path.name.endswith(".env"):
            found[path.name] = path.read_text().strip()
    return found


def test_credentials_are_owner_only() -> None:
    assert stat.S_IMODE(credentials_dir().stat().st_mode) == 0o700
    files = [*credentials_dir().iterdir(), default_env_file(), run_dir() / "hatchet" / "client-token"]
    assert len(files) > 10
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_no_password_in_the_service_logs_or_the_env_file() -> None:
    generated = passwords()
    assert {"kafka-sink", "redis-bridge", "postgres-zvt_reader", "hatchet-admin"} <= set(generated)
    logs = [p for pattern in ("*/*.log", "*/*.out") for p in run_dir().glob(pattern)]
    assert len(logs) >= 4
    for path in [*logs, default_env_file()]:
        text = path.read_text(errors="replace")
        leaked = [name for name, password in generated.items() if password in text]
        assert not leaked, f"{path} holds the password of {leaked}"
