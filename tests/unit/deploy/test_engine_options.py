"""deploy/local/hatchet.sh turns the engine options of config.sh into the engine's own settings, and refuses
a value the engine would misread or ignore (the engine drops an unparsable buffer setting silently)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runtime.settings import REPO_ROOT

HATCHET_SH = REPO_ROOT / "deploy" / "local" / "hatchet.sh"


def engine_env(run_dir: Path, **options: str) -> subprocess.CompletedProcess[str]:
    """The SERVER_* variables hatchet.sh exports for these options (its function, in a shell of its own)."""
    script = f'set -- engine_options_env; source "{HATCHET_SH}"; env | grep "^SERVER_" | sort'
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(run_dir), "ZVT_RUN_DIR": str(run_dir), **options},
    )  # fmt: skip


def test_defaults_keep_lite_on_postgres_with_the_engine_s_buffers(tmp_path: Path) -> None:
    done = engine_env(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["SERVER_MSGQUEUE_KIND=postgres"]


def test_rabbitmq_and_buffer_options_reach_the_engine(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hatchet.env").write_text("ZVT_HATCHET_RABBITMQ_URL=amqp://hatchet:pw@127.0.0.1:5740/\n")
    done = engine_env(
        tmp_path, ZVT_HATCHET_MQ="rabbitmq", ZVT_HATCHET_BUFFER_FLUSH_MS="2", ZVT_HATCHET_BUFFER_SIZE="50"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "SERVER_DEFAULT_BUFFER_FLUSH_INTERVAL=2ms",
        "SERVER_DEFAULT_BUFFER_SIZE=50",
        "SERVER_MSGQUEUE_KIND=rabbitmq",
        "SERVER_MSGQUEUE_RABBITMQ_URL=amqp://hatchet:pw@127.0.0.1:5740/",
    ]


def test_rabbitmq_without_its_credentials_is_refused(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "hatchet.env").write_text("")
    done = engine_env(tmp_path, ZVT_HATCHET_MQ="rabbitmq")
    assert done.returncode != 0
    assert "start rabbitmq first" in done.stderr


@pytest.mark.parametrize(
    "options",
    [
        {"ZVT_HATCHET_MQ": "nats"},
        {"ZVT_HATCHET_BUFFER_FLUSH_MS": "2ms"},
        {"ZVT_HATCHET_BUFFER_FLUSH_MS": "0"},
        {"ZVT_HATCHET_BUFFER_SIZE": "-1"},
    ],
)
def test_a_value_the_engine_would_misread_is_refused(tmp_path: Path, options: dict[str, str]) -> None:
    done = engine_env(tmp_path, **options)
    assert done.returncode != 0
    assert "must be" in done.stderr
