"""The Hatchet dashboard the local stack serves, seen in headless Chromium: the runs list shows a
place_order run made here. The stack's old placeholder page (or a blank bundle) shows no run and fails."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.settings import Settings, credentials_dir
from tests.integration.browser import chromium

from .conftest import Flow, serving, workflow_worker

pytestmark = pytest.mark.integration

ADMIN_EMAIL = "admin@example.com"  # deploy/local/hatchet.sh seeds it, with a generated password


def login_script(email: str, password: str) -> str:
    """The dashboard's own login call, from inside the page: the browser keeps the session cookie."""
    body = json.dumps({"email": email, "password": password})
    return (
        "fetch('/api/v1/users/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, "
        f"body: {json.dumps(body)}}}).then(r => r.status)"
    )


async def test_the_runs_list_shows_a_place_order_run(flow: Flow, settings: Settings, tmp_path: Path) -> None:
    from hatchet_workflows.client import hatchet
    from hatchet_workflows.place_order.models import PlaceOrderInput
    from hatchet_workflows.place_order.workflow import place_order_workflow

    name = f"wf-dash-{uuid.uuid4().hex[:6]}"
    with workflow_worker(flow, name):
        await serving(place_order_workflow, name)
        order = PlaceOrderInput(
            account_id="acct-dash", symbol="BTC/USDT", side="buy", quantity=Decimal("0.01")
        )
        ref = await place_order_workflow.aio_run(order, wait_for_result=False)
        await ref.aio_result()
    workflow_name = hatchet.config.apply_namespace(place_order_workflow.name)  # as the engine stores it

    dashboard = settings.hatchet_dashboard_url
    password = (credentials_dir() / "hatchet-admin").read_text().strip()
    async with chromium(tmp_path) as page:
        await page.goto(f"{dashboard}/auth/login")
        await page.wait_until("document.readyState === 'complete'", within=30)
        assert await page.evaluate(login_script(ADMIN_EMAIL, password)) == 200
        await page.goto(f"{dashboard}/tenants/{hatchet.config.tenant_id}/runs")
        shown = await page.wait_for_text(workflow_name, within=60)
        shot = await page.screenshot(tmp_path / "runs-list.png")

    assert await _bundle_mounted(dashboard), "index.html is not the dashboard's bundle"
    assert "Runs" in shown
    assert "Succeeded" in shown
    assert shot.stat().st_size > 10_000, f"a near-empty screenshot: {shot}"
    print(f"screenshot of the runs list: {shot}")


async def _bundle_mounted(dashboard: str) -> bool:
    """The page lite serves loads the built React bundle (the placeholder had no script)."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{dashboard}/") as answer:
        html = await answer.text()
    return '<div id="root">' in html and 'type="module"' in html and "/assets/index-" in html
