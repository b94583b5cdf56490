"""Running `zvt session` from integration tests: the bundled sample under names of the test run's own, and
one session as a subprocess whose report directory is returned."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from runtime.settings import REPO_ROOT
from zvt.session import DEFAULT_FILES

SESSION = [sys.executable, "-m", "zvt", "session"]


def fresh_sample_files(directory: Path) -> list[str]:
    """Copies of the bundled sample named for this run: tick ids follow from file name and row, so files
    named for this run give events no earlier run stored."""
    run = uuid.uuid4().hex[:8]
    files = []
    for path in DEFAULT_FILES:
        copy = directory / f"{run}-{path.name}"
        shutil.copyfile(path, copy)
        files.append(str(copy))
    return files


def session_command(
    directory: Path, files: list[str], speed: str, *options: str, limit: int | None = 3000
) -> list[str]:
    limited = ["--limit", str(limit)] if limit is not None else []
    return [*SESSION, "--speed", speed, *limited, "--report-dir", str(directory), *options, *files]


def run_session(
    directory: Path,
    files: list[str],
    speed: str,
    *options: str,
    limit: int | None = 3000,
    environment: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> Path:
    """One session to its end; fails with the tail of its output unless it exited 0."""
    log = directory / "session.out"
    with log.open("wb") as out:
        done = subprocess.run(
            session_command(directory, files, speed, *options, limit=limit),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            env={**os.environ, **(environment or {})},
        )
    assert done.returncode == 0, log.read_text()[-3000:]
    printed = log.read_text()
    assert "Faust web monitor" in printed  # where to look
    assert "the dashboard; namespace session_" in printed
    return directory
