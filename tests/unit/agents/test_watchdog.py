"""The stall rule of the worker's watchdog, on made-up samples."""

from __future__ import annotations

import pytest

from agents.watchdog import ProgressWatch


@pytest.fixture
def watch() -> ProgressWatch:
    return ProgressWatch(stall_after=30)


def test_no_progress_with_a_backlog_for_the_whole_window_is_a_stall(watch: ProgressWatch) -> None:
    assert not watch.stalled(0, 100, backlog=True)
    assert not watch.stalled(29, 100, backlog=True)
    assert watch.stalled(30, 100, backlog=True)


def test_progress_restarts_the_window(watch: ProgressWatch) -> None:
    watch.stalled(0, 100, backlog=True)
    assert not watch.stalled(20, 101, backlog=True)
    assert not watch.stalled(45, 101, backlog=True)
    assert watch.stalled(50, 101, backlog=True)


def test_an_idle_worker_without_backlog_never_stalls(watch: ProgressWatch) -> None:
    for now in range(0, 300, 5):
        assert not watch.stalled(now, 7, backlog=False)
    assert not watch.stalled(301, 7, backlog=True)  # a backlog that just appeared starts a new window
