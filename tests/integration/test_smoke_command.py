"""The README's main command for now: `zvt smoke` sends one event through all four services."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from runtime.settings import Settings

pytestmark = pytest.mark.integration


def test_smoke_command_passes_through_every_service(kafka_topics: Settings) -> None:
    settings = kafka_topics  # the run's topics and their ACLs: the smoke principal may not create them
    env = os.environ | {"ZVT_TOPIC_PREFIX": settings.topic_prefix, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "zvt", "smoke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") >= 4}
    for service in ("kafka", "redis", "postgres", "hatchet"):
        assert " ok " in rows[service], rows.get(service)
    assert f"{settings.topic_prefix}alerts" in done.stdout
