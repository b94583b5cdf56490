"""Background processes stop with their block; one that ignores SIGTERM is killed and reported."""

from __future__ import annotations

import sys

import pytest

from runtime.processes import ProcessDidNotStopError, background_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    "time.sleep(60)",
]


def test_process_is_terminated_when_the_block_ends() -> None:
    with background_process(SLEEPER) as process:
        assert process.poll() is None
    assert process.returncode is not None


def test_process_ignoring_sigterm_is_killed_and_reported() -> None:
    with (  # noqa: PT012  (the block is the process's lifetime)
        pytest.raises(ProcessDidNotStopError, match="ignored SIGTERM"),
        background_process(STUBBORN, stop_timeout=0.5, capture=True) as process,
    ):
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"  # the handler is installed
    assert process.returncode == -9


def test_error_inside_the_block_still_stops_the_process() -> None:
    with pytest.raises(RuntimeError, match="boom"), background_process(SLEEPER) as process:
        raise RuntimeError("boom")
    assert process.returncode is not None
