"""The dashboard's edge without a stack: the page and its files are served with a strict
Content-Security-Policy and need no token, everything they read does; the script builds its DOM as text
only; the equity curve is thinned for a page and places orders by hand at their request's time."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.dashboard.reads import decided_by_hand_at_request, thinned
from api.dashboard.router import STATIC
from api.tokens import Role
from runtime.settings import Settings
from tests.unit.trading.builders import T0, request


@pytest.fixture
def client(tmp_path: Path, tokens: dict[Role, str]) -> TestClient:
    return TestClient(create_app(Settings(), tmp_path / "tokens.json"))  # not entered: no services


def test_the_page_and_its_files_are_served_without_a_token_under_a_strict_policy(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard/dashboard.js" defer></script>' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe" not in policy
    script = client.get("/dashboard/dashboard.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/dashboard/dashboard.css").headers["content-type"].startswith("text/css")
    for other in ("/dashboard/index.html", "/dashboard/..%2Fapp.py", "/dashboard/tokens.json"):
        assert client.get(other).status_code == 404, other


def test_what_the_page_reads_needs_a_token(client: TestClient, tokens: dict[Role, str]) -> None:
    for path in ("/whoami", "/orders/open", "/latency", "/equity"):
        assert client.get(path).status_code == 401, path
    me = client.get("/whoami", headers={"Authorization": f"Bearer {tokens[Role.VIEWER]}"})
    assert me.json() == {"user": "viewer", "role": "viewer"}


def test_the_script_never_parses_html_nor_runs_strings() -> None:
    """Everything the page shows comes from outside: set as text, never as markup or code."""
    script = (STATIC / "dashboard.js").read_text()
    sinks = (
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['\"`]"
    )
    assert re.findall(sinks, script) == []
    assert "textContent" in script  # and it does set text


def test_a_long_curve_is_thinned_keeping_its_last_point() -> None:
    curve = [(T0 + timedelta(seconds=i), Decimal(i)) for i in range(1001)]
    kept = thinned(curve, points=400)
    assert len(kept) <= 401
    assert kept[0] == [T0.isoformat(), "0"]
    assert kept[-1] == [(T0 + timedelta(seconds=1000)).isoformat(), "1000"]
    assert thinned(curve[:3], points=400) == [[at.isoformat(), str(v)] for at, v in curve[:3]]
    assert thinned([]) == []


def test_an_order_by_hand_is_placed_at_its_request_time_and_a_decided_one_is_left_as_it_is() -> None:
    by_hand = request(market_time=None)
    decided = request(order_id="ord-2", market_time=T0 - timedelta(hours=1))
    placed, kept = decided_by_hand_at_request([by_hand, decided])
    assert placed.market_time == by_hand.timestamp  # type: ignore[attr-defined]
    assert placed.event_id == by_hand.event_id
    assert kept is decided
