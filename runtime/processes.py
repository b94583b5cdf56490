"""Child processes that live exactly as long as their user needs them (workers started by the CLI, tests)."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class ProcessDidNotStopError(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port free right now, for a child process's web monitor or metrics."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def background_process(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 30.0,
    capture: bool = False,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` for the duration of the block, then SIGTERM it; a process that ignores SIGTERM for
    `stop_timeout` seconds is killed and reported, since a worker that cannot shut down cleanly is a bug.
    Output goes to `log_path` (appended) when given, else to a pipe with `capture`, else nowhere."""
    log = log_path.open("ab") if log_path is not None else None
    process = subprocess.Popen(
        argv,
        env=env,
        stdout=log or (subprocess.PIPE if capture else subprocess.DEVNULL),
        stderr=subprocess.STDOUT if capture or log else subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        stopped = _stop(process, stop_timeout)
        if log is not None:
            log.close()
    if not stopped:
        raise ProcessDidNotStopError(f"{argv!r} ignored SIGTERM for {stop_timeout:.0f} s and was killed")


def _stop(process: subprocess.Popen[bytes], timeout: float) -> bool:
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
