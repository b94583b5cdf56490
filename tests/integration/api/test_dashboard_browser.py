"""The dashboard `zvt api` serves, in headless Chromium against the real stack (an agent worker with the
paper matching engine, the sink, the API): a made-up token is refused; a trader places a market order
from the page's ticket and sees its fill and position arrive on the WebSocket, its PnL line, the equity
curve and the step latencies; places a GTC limit order under the ask, which rests; a viewer sees it with
no ticket and no cancel button; the trader cancels it from the page and sees it canceled. A screenshot of
the page is saved."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.tokens import Role
from runtime.settings import Settings, run_dir
from tests.integration.browser import Page, chromium

from .conftest import RunningApi, api_stack

pytestmark = pytest.mark.integration
WITHIN = 120.0  # seconds for one step to show on a loaded machine (the pipeline, the sink, the page)
# The risk monitor's exposure limit, under the test's first position (0.25 BTC at 60,000): an alert.
MONITOR = """
[monitor]
max_gross_exposure = "10000"
"""


@pytest.fixture
async def paper_api(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningApi]:
    async with api_stack(settings, tmp_path, paper_engine=True, more_config=MONITOR) as running:
        yield running


def present(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}) !== null"


def visible(selector: str) -> str:
    """Shown on the screen: present, and neither it nor a parent hidden (`display: none`)."""
    return f"Boolean(document.querySelector({json.dumps(selector)})?.checkVisibility())"


async def sign_in(page: Page, token: str) -> None:
    await page.set_value("#token", token)
    await page.click("#connect")
    await page.wait_until(present('#stream-status[data-state="live"]'), within=WITHIN)


async def sign_out(page: Page) -> None:
    await page.click("#sign-out")
    await page.wait_until(visible("#login"), within=WITHIN)


async def show_account(page: Page, account: str) -> None:
    """Narrow every panel (and the stream) to `account`: other tests' orders share the event store."""
    await page.set_value("#account-filter", account)
    await page.click("#filter button")
    await page.wait_until(present('#stream-status[data-state="live"]'), within=WITHIN)


async def place(page: Page, **fields: str) -> str:
    """Fill in the ticket, place the order and return its id (from the page's activity list)."""
    before = await page.evaluate("document.querySelectorAll('#activity li[data-action=\"place\"]').length")
    for name, value in fields.items():
        await page.set_value(f'#ticket [name="{name}"]', value)
    await page.click("#place")
    await page.wait_until(
        f"document.querySelectorAll('#activity li[data-action=\"place\"]').length > {before}", within=WITHIN
    )
    outcome, order_id, shown = await page.evaluate(
        "(() => { const li = document.querySelector('#activity li[data-action=\"place\"]');"
        " return [li.dataset.outcome, li.dataset.orderId, li.textContent]; })()"
    )
    assert outcome == "sent", shown
    return str(order_id)


async def test_the_dashboard_places_an_order_shows_it_live_and_cancels_a_resting_one(
    paper_api: RunningApi, tmp_path: Path
) -> None:
    account = f"acct-dash-{uuid.uuid4().hex[:6]}"
    tokens = paper_api.tokens
    async with chromium(tmp_path) as page:
        await page.watch_errors()
        await page.goto(f"{paper_api.url}/dashboard")
        await page.wait_until("document.readyState === 'complete'", within=30)

        await page.set_value("#token", "zvt_made-up")
        await page.click("#connect")
        await page.wait_for_text("token refused", within=WITHIN)
        assert not await page.evaluate(visible("#panels"))
        assert not await page.evaluate(visible("#sign-out"))

        await sign_in(page, tokens[Role.TRADER])
        assert await page.texts("#who") == ["test-trader (trader)"]
        assert await page.evaluate(visible("#ticket-panel"))
        assert not await page.evaluate(visible("#login"))
        await show_account(page, account)

        # A market order: its fill and position come over the stream, its PnL and curve from the store.
        taken = await place(page, account_id=account, order_type="market", quantity="0.25", limit_price="")
        fill_row = f'#fills tr[data-order-id="{taken}"]'
        await page.wait_until(present(fill_row), within=WITHIN)
        fill = await page.texts(f"{fill_row} td")
        assert fill[1:7] == [taken, account, "", "BTC/USDT", "buy", "0.25"], fill
        assert (fill[7], fill[9], fill[11]) == ("60001", "binance", "filled"), fill
        assert (
            await page.evaluate(f"document.querySelector({json.dumps(fill_row)}).dataset.source") == "stream"
        )
        position_row = f'#positions tr[data-account="{account}"][data-source="stream"]'
        await page.wait_until(present(position_row), within=WITHIN)
        assert (await page.texts(f"{position_row} td"))[:4] == [account, "BTC/USDT", "0.25", "60001"]
        await page.wait_until(present(f'#orders tr[data-order-id="{taken}"][data-status="filled"]'), WITHIN)
        pnl_row = f'#pnl tr[data-account="{account}"]'
        await page.wait_until(present(pnl_row), within=WITHIN)
        pnl = await page.texts(f"{pnl_row} td")
        assert pnl[:6] == ["-", account, "BTC/USDT", "1", "0.25", "60001"], pnl  # "-": placed by hand
        await page.wait_until("Number(document.getElementById('equity').dataset.points) >= 1", WITHIN)
        assert await page.evaluate("document.querySelector('#equity svg path.curve') !== null")
        step = '#latency tr[data-step="requested->validated"] td:nth-child(2)'
        await page.wait_until(f"Number(document.querySelector({json.dumps(step)})?.textContent) >= 1", WITHIN)

        # The position crossed the risk monitor's exposure limit: its breach and alert come over the stream.
        alert_row = '#alerts tr[data-kind="alert"][data-source="stream"]'
        await page.wait_until(present(alert_row), within=WITHIN)
        alert = await page.texts(f"{alert_row} td")
        assert alert[1:4] == ["alert", "critical", account], alert
        assert alert[4] == f"risk_monitor: {account}: gross exposure 15000.125 above limit 10000", alert
        await page.wait_until(present('#alerts tr[data-kind="breach"][data-source="stream"]'), WITHIN)

        # A sell of part of it: a second fill, a realized loss (bought at the ask, sold at the bid), a
        # second point on the curve.
        sold = await place(page, side="sell", quantity="0.1")
        await page.wait_until(present(f'#fills tr[data-order-id="{sold}"][data-source="stream"]'), WITHIN)
        quantity = f'#positions tr[data-account="{account}"][data-source="stream"] td:nth-child(3)'
        await page.wait_until(
            f"document.querySelector({json.dumps(quantity)})?.textContent === '0.15'", WITHIN
        )
        await page.wait_until("Number(document.getElementById('equity').dataset.points) >= 2", WITHIN)

        # A GTC limit buy under the ask of 60001 rests on the paper engine.
        resting = await place(
            page, side="buy", order_type="limit", quantity="0.1", limit_price="59000", time_in_force="gtc"
        )
        open_row = f'#open-orders tr[data-order-id="{resting}"]'
        await page.wait_until(present(f'{open_row}[data-state="accepted"]'), within=WITHIN)
        shown = await page.texts(f"{open_row} td")
        assert shown[:10] == [
            resting,
            account,
            "BTC/USDT",
            "buy",
            "limit",
            "59000",
            "0.1",
            "0",
            "accepted",
            "binance",
        ]

        # A viewer sees it, with no ticket and no cancel button.
        await sign_out(page)
        await sign_in(page, tokens[Role.VIEWER])
        await show_account(page, account)
        await page.wait_until(present(open_row), within=WITHIN)
        assert not await page.evaluate(visible("#ticket-panel"))
        assert not await page.evaluate(present(f"{open_row} button"))
        await sign_out(page)

        # The trader cancels it from the page; the engine's answer shows, and the order is no longer open.
        await sign_in(page, tokens[Role.TRADER])
        await show_account(page, account)
        await page.wait_until(present(f"{open_row} button.cancel"), within=WITHIN)
        await page.click(f"{open_row} button.cancel")
        answered = f'#activity li[data-action="cancel"][data-order-id="{resting}"]'
        await page.wait_until(present(f'{answered}:not([data-outcome="sent"])'), within=WITHIN)
        answer = await page.evaluate(f"document.querySelector({json.dumps(answered)}).dataset.outcome")
        assert answer == "done", await page.texts(answered)
        await page.wait_until(
            present(f'#orders tr[data-order-id="{resting}"][data-status="canceled"]'), WITHIN
        )
        await page.wait_until(f"!({present(open_row)})", within=WITHIN)
        shown_text = await page.text()
        assert page.errors == [], page.errors  # no script error, no policy violation
        shot = await page.screenshot(tmp_path / "dashboard.png", full_page=True)

    assert f"canceled: {resting} canceled 0.1: requested" in shown_text
    assert "no open orders" in shown_text
    assert shot.stat().st_size > 20_000, f"a near-empty screenshot: {shot}"
    kept = run_dir() / "screenshots" / "dashboard.png"  # the last run's, past pytest's tmp dir rotation
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, kept)
    print(f"screenshot of the dashboard: {shot} (and {kept})")
