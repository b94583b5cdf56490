"""`stack.sh up` twice is a no-op the second time; `stack.sh down` leaves no process behind.

Runs a second, complete stack on other ports and in its own run directory, so the stack the other tests
use is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from runtime.settings import REPO_ROOT

pytestmark = pytest.mark.integration

STACK = REPO_ROOT / "deploy" / "local" / "stack.sh"
SERVICES = ("postgres", "redis", "kafka", "hatchet")
PORTS = {
    "ZVT_PG_PORT": 55532,
    "ZVT_REDIS_PORT": 6479,
    "ZVT_KAFKA_PORT": 9192,
    "ZVT_KAFKA_CONTROLLER_PORT": 9193,
    "ZVT_KAFKA_TLS_PORT": 9194,
    "ZVT_HATCHET_GRPC_PORT": 7177,
    "ZVT_HATCHET_API_PORT": 8988,
    "ZVT_HATCHET_HEALTH_PORT": 8833,
    "ZVT_HATCHET_INTERNAL_API_PORT": 8990,
    "ZVT_HATCHET_INTERNAL_FRONTEND_PORT": 8991,
}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.fixture(scope="module")
def second_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    run_dir = tmp_path_factory.mktemp("second-stack")
    run_dir.chmod(0o755)
    env = os.environ | {key: str(value) for key, value in PORTS.items()} | {"ZVT_RUN_DIR": str(run_dir)}
    yield env
    subprocess.run(["bash", str(STACK), "down"], env=env, capture_output=True, check=False, timeout=120)
    # When the run directory is private (as pytest's is), the cluster lives under postgres's home: remove it.
    cluster = run_dir / "postgres" / "cluster"
    if cluster.is_symlink():
        shutil.rmtree(cluster.resolve(), ignore_errors=True)


def stack(env: dict[str, str], verb: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK), verb], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def recorded_pids(env: dict[str, str]) -> dict[str, int]:
    run_dir = Path(env["ZVT_RUN_DIR"])
    return {svc: int((run_dir / svc / f"{svc}.pid").read_text()) for svc in SERVICES}


def test_up_twice_then_down(second_stack: dict[str, str]) -> None:
    first = stack(second_stack, "up")
    assert first.returncode == 0, first.stderr
    pids = recorded_pids(second_stack)
    assert all(pid_alive(pid) for pid in pids.values())
    assert all(port_open(port) for port in PORTS.values())

    again = stack(second_stack, "up")
    assert again.returncode == 0, again.stderr
    for service in SERVICES:
        assert f"[{service}] already running" in again.stderr
    assert "starting" not in again.stderr
    assert "initialising" not in again.stderr
    assert recorded_pids(second_stack) == pids
    assert stack(second_stack, "status").returncode == 0

    down = stack(second_stack, "down")
    assert down.returncode == 0, down.stderr
    assert not [svc for svc, pid in pids.items() if pid_alive(pid)]
    assert not [port for port in PORTS.values() if port_open(port)]
    leftovers = subprocess.run(
        ["pgrep", "-f", second_stack["ZVT_RUN_DIR"]], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"
    assert stack(second_stack, "status").returncode == 1


async def test_restarted_engine_inherits_no_state_of_the_stopped_one(second_stack: dict[str, str]) -> None:
    """hatchet-lite exits without its teardown; `up` must clear the dead engine's partitions and leases,
    or the new engine schedules nothing until they expire."""
    for verb in ("up", "down", "up"):
        done = stack(second_stack, verb)
        assert done.returncode == 0, done.stderr
    credentials = Path(second_stack["ZVT_RUN_DIR"]) / "credentials" / "hatchet.env"
    dsn = credentials.read_text().split("ZVT_HATCHET_DATABASE_URL=", 1)[1].splitlines()[0]
    connection = await asyncpg.connect(dsn)
    try:
        for table in ("ControllerPartition", "SchedulerPartition", "TenantWorkerPartition"):
            rows = await connection.fetch(f'SELECT "lastHeartbeat" FROM "{table}"')
            assert len(rows) == 1, f"{table}: {len(rows)} partitions, expected only the running engine's"
    finally:
        await connection.close()
    assert stack(second_stack, "down").returncode == 0


def test_new_run_directory_at_the_same_path_comes_up(second_stack: dict[str, str]) -> None:
    """A CI machine that cleans only its work tree keeps a cluster stored outside it (postgres's home, when
    the checkout is private): a new run directory must not adopt it with passwords it never made."""
    run_dir = Path(second_stack["ZVT_RUN_DIR"])
    assert stack(second_stack, "up").returncode == 0
    cluster = run_dir / "postgres" / "cluster"
    kept_outside = cluster.resolve() if cluster.is_symlink() else None
    assert stack(second_stack, "down").returncode == 0
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    again = stack(second_stack, "up")
    assert again.returncode == 0, again.stderr
    if kept_outside is not None:
        assert f"removing {kept_outside}" in again.stderr
    assert "[hatchet] ready" in again.stderr
    assert stack(second_stack, "down").returncode == 0
