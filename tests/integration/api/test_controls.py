"""Runtime controls on the real stack, with two agent workers sharing the order partitions: a kill switch
engaged through the API refuses the next orders of every partition (so in both workers), is in the event
store with who and why, and released lets orders pass again; a limit changed at runtime refuses an order;
a halted strategy stops ordering and orders again once resumed.

The time from a command's ack to the workers applying it, and to the refusal of orders sent right after
the ack, is measured and printed (never asserted): `pytest -s` shows it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner

from api.tokens import Role
from runtime.clients import kafka_options
from runtime.processes import background_process, free_port
from runtime.producer import SignedProducer, publish_events
from runtime.settings import Settings
from schemas import (
    CODEC,
    Event,
    KillSwitchSet,
    OrderExecuted,
    OrderRejected,
    OrderRequested,
    OrderValidated,
    QuoteTick,
    RejectReason,
)
from topics import KafkaTopic, Topics
from topics.admin import ensure_topics

from ..pipeline.support import (
    DEFAULT_LIMITS,
    PipelineOutput,
    names,
    quote,
    read_topics,
    start_worker,
    wait_for_books,
    wait_until,
    worker_env,
)
from ..pipeline.test_strategies import quotes
from .conftest import RunningApi, user_of_every_role, wait_healthy

pytestmark = pytest.mark.integration

STRATEGY = """
[[strategies]]
id = "{id}"
kind = "ma_crossover"
account = "acct-{id}"
symbols = ["ETH/USDT"]
venue = "binance"
[strategies.parameters]
fast = 2
slow = 3
quantity = "0.01"
"""
# Twins on the same prices: one is halted, the other shows when they decided.
STRATEGIES = STRATEGY.format(id="ma-halted") + STRATEGY.format(id="ma-running")
ORDER = {"symbol": "BTC/USDT", "side": "buy", "quantity": "0.25"}  # 15000 at the book's 60001


class Desk(RunningApi):
    web_ports: list[int]
    worker_env: dict[str, str]


@pytest.fixture
async def desk(settings: Settings, tmp_path: Path) -> AsyncIterator[Desk]:
    """Own topics; two agent workers (strategies too) in one group, the sink and `zvt api`."""
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own, own.topic_prefix)
    tokens_file, tokens = user_of_every_role(tmp_path)
    (tmp_path / "trading.toml").write_text(DEFAULT_LIMITS + '\n[paper]\nlatency_ms = "50"\n')
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    ports, api_port = [free_port(), free_port()], free_port()
    envs = [
        worker_env(own, tmp_path / "trading.toml", port)
        | {"ZVT_STRATEGIES_CONFIG": str(tmp_path / "strategies.toml")}
        for port in ports
    ]
    api_env = os.environ | {"ZVT_TOPIC_PREFIX": own.topic_prefix, "ZVT_API_TOKENS_FILE": str(tokens_file)}
    api = [sys.executable, "-m", "zvt", "api", "--port", str(api_port)]
    with (
        start_worker(envs[0], tmp_path / "worker-1.log"),
        start_worker(envs[1], tmp_path / "worker-2.log"),
        background_process(
            [sys.executable, "-m", "zvt", "sink"], env=envs[0], log_path=tmp_path / "sink.log"
        ),
        background_process(api, env=api_env, log_path=tmp_path / "api.log"),
    ):
        running = Desk(own, f"http://127.0.0.1:{api_port}", tokens, tmp_path)
        running.web_ports, running.worker_env = ports, envs[0]
        try:
            await wait_healthy(running.url)
        except TimeoutError:
            pytest.fail(f"zvt api did not answer /healthz:\n{running.log_tails()}")
        await publish_events(own, [quote("binance", "BTC/USDT", "60000", "60001", "2", "1.5")])
        for port in ports:
            await wait_for_books(port, {"binance:BTC/USDT"})
        try:
            await asyncio.wait_for(both_hold_orders(ports), 90)
        except TimeoutError:
            pytest.fail(f"the two workers did not share orders.requested:\n{running.log_tails()}")
        yield running


async def worker_page(port: int, page: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/zvt/{page}/") as response,
    ):
        found: dict[str, Any] = await response.json()
        return found


async def both_hold_orders(ports: list[int]) -> None:
    """Until each worker's order stage holds some of orders.requested's partitions, and the two all six."""
    while True:
        held = []
        for port in ports:
            try:
                stages = await worker_page(port, "stages")
            except aiohttp.ClientError:
                stages = {}
            mine = stages.get("orders", {}).get("assigned", [])
            held.append({name for name in mine if name.startswith(Topics.ORDERS_REQUESTED.name + "[")})
        if all(held) and len(held[0] | held[1]) == Topics.ORDERS_REQUESTED.partitions:
            return
        await asyncio.sleep(0.5)


def one_account_per_partition(tag: str) -> list[str]:
    """Accounts whose orders land on each partition of orders.requested: every worker gets some."""
    partitions = list(range(Topics.ORDERS_REQUESTED.partitions))
    found: dict[int, str] = {}
    for n in range(1000):
        account = f"acct-{tag}-{n}"
        found.setdefault(DefaultPartitioner()(account.encode(), partitions, partitions), account)
        if len(found) == len(partitions):
            return [found[p] for p in partitions]
    raise AssertionError("no account for some partition")


async def controls_once(
    port: int, wanted: Callable[[dict[str, Any]], bool], within: float = 90
) -> dict[str, Any]:
    """The worker's control state (its web page) once `wanted` holds of it."""
    async with asyncio.timeout(within):
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                found = await worker_page(port, "controls")
                if wanted(found):
                    return found
            await asyncio.sleep(0.1)


async def all_workers_show(ports: list[int], applied: int) -> float:
    """Seconds until every worker's control state has folded `applied` commands (polled every 10 ms)."""
    started = time.monotonic()
    while True:
        states = [await worker_page(port, "controls") for port in ports]
        if all(state["applied"] >= applied for state in states):
            return time.monotonic() - started
        await asyncio.sleep(0.01)


async def place(client: httpx.AsyncClient, desk: Desk, accounts: list[str]) -> dict[str, str]:
    """One order per account through the API; order id -> account."""
    placed = {}
    for account in accounts:
        response = await client.post(
            "/orders", json=ORDER | {"account_id": account}, headers=desk.headers(Role.TRADER)
        )
        assert response.status_code == 202, response.text
        placed[response.json()["order_id"]] = account
    return placed


def outcomes(output: PipelineOutput, order_ids: set[str]) -> dict[str, OrderRejected | OrderValidated]:
    found: dict[str, OrderRejected | OrderValidated] = {}
    for event in output.events.values():
        if isinstance(event, OrderRejected | OrderValidated) and event.order_id in order_ids:
            found[event.order_id] = event
    return found


async def stored(settings: Settings, event_id: str, within: float = 30) -> dict[str, Any]:
    """The event's row in the event store, once the sink has written it."""
    connection = await asyncpg.connect(settings.postgres_url())
    try:
        async with asyncio.timeout(within):
            while True:
                row = await connection.fetchrow(
                    "SELECT event_type, aggregate_id, event_data::text AS data FROM event_store"
                    " WHERE event_id = $1",
                    uuid.UUID(event_id),
                )
                if row is not None:
                    return dict(row)
                await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def until_decided(output: PipelineOutput, order_ids: dict[str, str], since: float) -> float:
    """Seconds from `since` (monotonic) until every order was validated or refused (polled every 10 ms)."""
    async with asyncio.timeout(60):
        while len(outcomes(output, set(order_ids))) < len(order_ids):  # noqa: ASYNC110 - another task's
            await asyncio.sleep(0.01)
    return time.monotonic() - since


async def publish_unsigned(settings: Settings, topic: KafkaTopic, event: Event) -> None:
    producer = SignedProducer(**kafka_options(settings))
    await producer.start()
    try:  # headers of its own: the producer does not sign
        await producer.send_and_wait(topic.full_name(settings.topic_prefix), CODEC.encode(event), headers=[])
    finally:
        await producer.stop()


def report(what: str, seconds: float) -> None:
    print(f"[controls] {what}: {seconds * 1000:.0f} ms")  # measured, not asserted (pytest -s)


async def test_kill_switch_limits_and_who_may_use_them(desk: Desk) -> None:
    accounts = one_account_per_partition(uuid.uuid4().hex[:4])
    topics = names(desk.settings, Topics.ORDERS_REJECTED, Topics.ORDERS_VALIDATED)
    officer, trader, viewer = (desk.headers(role) for role in (Role.RISK_OFFICER, Role.TRADER, Role.VIEWER))
    engage = {"engaged": True, "reason": "integration test: stop everything"}
    async with read_topics(desk.settings, topics) as output, httpx.AsyncClient(base_url=desk.url) as client:
        # Who may: a trader and a viewer may not engage it; a viewer may read the state.
        assert (await client.post("/controls/kill-switch", json=engage, headers=trader)).status_code == 403
        assert (await client.post("/controls/kill-switch", json=engage, headers=viewer)).status_code == 403
        assert (await client.post("/controls/kill-switch", json=engage)).status_code == 401
        state = await client.get("/controls", headers=viewer)
        assert state.status_code == 200, state.text
        assert state.json()["global_kill"] is None

        # Engaged: orders sent right after the ack, then once every worker shows it.
        response = await client.post("/controls/kill-switch", json=engage, headers=officer)
        acked = time.monotonic()
        assert response.status_code == 202, response.text
        command = response.json()
        applied = asyncio.create_task(all_workers_show(desk.web_ports, 1))  # polled while orders go in
        right_after = await place(client, desk, accounts)
        report("ack -> both workers applied the kill switch", await applied)
        report(
            "ack -> the orders sent right after it decided", await until_decided(output, right_after, acked)
        )
        after = await place(client, desk, accounts)
        wanted = set(right_after) | set(after)
        await wait_until(lambda: len(outcomes(output, wanted)) == len(wanted), 60, desk.log_tails)
        decided = outcomes(output, wanted)
        passed = [order_id for order_id in right_after if isinstance(decided[order_id], OrderValidated)]
        print(f"[controls] orders sent right after the ack that passed before the switch was read: {passed}")
        for order_id in after:
            rejected = decided[order_id]
            assert isinstance(rejected, OrderRejected), rejected
            assert rejected.reason is RejectReason.KILL_SWITCH, rejected
            assert "global kill switch engaged by test-risk_officer" in rejected.detail
            assert rejected.detail.endswith("stop everything")
        state = (await client.get("/controls", headers=viewer)).json()
        assert state["global_kill"]["on"] is True
        assert state["global_kill"]["issued_by"] == "test-risk_officer"

        # In the event store, with who and why, under its scope.
        row = await stored(desk.settings, command["event_id"])
        assert (row["event_type"], row["aggregate_id"]) == ("control.kill_switch_set", "control/global")
        assert (
            '"issued_by": "test-risk_officer"' in row["data"]
            or '"issued_by":"test-risk_officer"' in row["data"]
        )
        assert "stop everything" in row["data"]

        # Released: orders pass again on every partition.
        release = {"engaged": False, "reason": "integration test: all clear"}
        assert (await client.post("/controls/kill-switch", json=release, headers=officer)).status_code == 202
        await all_workers_show(desk.web_ports, 2)
        passing = await place(client, desk, accounts)
        await wait_until(lambda: len(outcomes(output, set(passing))) == len(passing), 60, desk.log_tails)
        assert all(isinstance(e, OrderValidated) for e in outcomes(output, set(passing)).values())

        # A limit changed at runtime: bad ones refused with the reason, a good one refuses the next order.
        account = accounts[0]
        url = f"/controls/accounts/{account}/limits"
        bad = await client.post(url, json={"limits": {"max_fun": "1"}, "reason": "typo"}, headers=officer)
        assert bad.status_code == 422, bad.text
        assert "unknown limit 'max_fun'" in bad.text
        bad = await client.post(
            url, json={"limits": {"max_open_orders": "2.5"}, "reason": "x"}, headers=officer
        )
        assert bad.status_code == 422, bad.text
        assert "whole number" in bad.text
        limits = {"limits": {"max_order_notional": "1000"}, "reason": "integration test: small orders only"}
        response = await client.post(url, json=limits, headers=officer)
        acked = time.monotonic()
        assert response.status_code == 202, response.text
        report("ack -> both workers applied the limit", await all_workers_show(desk.web_ports, 3))
        (order_id,) = await place(client, desk, [account])
        await wait_until(lambda: order_id in outcomes(output, {order_id}), 60, desk.log_tails)
        refused = outcomes(output, {order_id})[order_id]
        assert isinstance(refused, OrderRejected), refused
        assert refused.reason is RejectReason.MAX_ORDER_NOTIONAL, refused
        assert "above 1000" in refused.detail
        report("ack -> the limit's refusal (an order sent once applied)", time.monotonic() - acked)
        (other,) = await place(client, desk, [accounts[1]])  # another account keeps its configured limit
        await wait_until(lambda: other in outcomes(output, {other}), 60, desk.log_tails)
        assert isinstance(outcomes(output, {other})[other], OrderValidated)

    # An unsigned record on the control topic: refused by every worker, dead-lettered by the sink.
    dead = names(desk.settings, Topics.CONTROL_COMMANDS.dead_letter)  # type: ignore[arg-type]
    async with read_topics(desk.settings, dead) as dead_letters:
        forged = KillSwitchSet(engaged=True, issued_by="mallory", reason="forged")
        await publish_unsigned(desk.settings, Topics.CONTROL_COMMANDS, forged)
        await wait_until(lambda: bool(dead_letters.records), 30, desk.log_tails)
    for port in desk.web_ports:
        seen = await controls_once(port, lambda found: found["refused"] >= 1)
        assert seen["global_kill"]["on"] is False

    # A worker started now replays the whole topic before it decides anything: it knows the state.
    port = free_port()
    with start_worker(desk.worker_env | {"ZVT_WEB_PORT": str(port)}, desk.logs / "worker-3.log"):
        replayed = await controls_once(port, lambda found: found["caught_up"])
    assert (replayed["applied"], replayed["refused"], replayed["global_kill"]["on"]) == (3, 1, False)
    assert replayed["limits"][account]["max_order_notional"]["value"] == "1000"


def eth_quotes(start: datetime) -> list[QuoteTick]:
    """test_strategies' quotes (a crossing at the fifth), on ETH/USDT: the BTC/USDT book is at wall time."""
    return [
        QuoteTick.model_validate(
            tick.model_dump(exclude={"event_id", "correlation_id"}) | {"symbol": "ETH/USDT"}
        )
        for tick in quotes(start)
    ]


def strategy_orders(output: PipelineOutput, strategy: str) -> list[OrderRequested]:
    return [order for order in output.of_type(OrderRequested) if order.strategy_id == strategy]


async def test_a_halted_strategy_sends_no_orders_until_resumed(desk: Desk) -> None:
    officer = desk.headers(Role.RISK_OFFICER)
    topics = names(desk.settings, Topics.ORDERS_REQUESTED, Topics.ORDERS_EXECUTED)
    start = datetime.now(UTC) - timedelta(seconds=60)
    async with read_topics(desk.settings, topics) as output, httpx.AsyncClient(base_url=desk.url) as client:
        halt = {"reason": "integration test: halt"}
        response = await client.post("/controls/strategies/ma-halted/halt", json=halt, headers=officer)
        assert response.status_code == 202, response.text
        await all_workers_show(desk.web_ports, 1)
        # Both strategies see the same crossing; only the running one orders.
        await publish_events(desk.settings, eth_quotes(start))
        await wait_until(lambda: bool(strategy_orders(output, "ma-running")), 60, desk.log_tails)
        await asyncio.sleep(1)  # the halted one decided (on nothing) in the same price's step
        assert strategy_orders(output, "ma-halted") == []
        state = (await client.get("/controls", headers=desk.headers(Role.VIEWER))).json()
        assert state["strategy_halts"]["ma-halted"]["on"] is True

        resume = {"reason": "integration test: resume"}
        response = await client.post("/controls/strategies/ma-halted/resume", json=resume, headers=officer)
        assert response.status_code == 202, response.text
        await all_workers_show(desk.web_ports, 2)
        # A second crossing, later in market time: the resumed strategy orders at it (from an empty state).
        await publish_events(desk.settings, eth_quotes(start + timedelta(seconds=30)))
        await wait_until(lambda: bool(strategy_orders(output, "ma-halted")), 60, desk.log_tails)
        (order,) = strategy_orders(output, "ma-halted")
        assert order.account_id == "acct-ma-halted"
        await wait_until(
            lambda: any(
                isinstance(e, OrderExecuted) and e.order_id == order.order_id for e in output.events.values()
            ),
            60,
            desk.log_tails,
        )


def zvt_control(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"ZVT_TOPIC_PREFIX": settings.topic_prefix, "COLUMNS": "200"}
    command = [sys.executable, "-m", "zvt", "control", *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_the_cli_issues_validates_and_shows_the_controls(settings: Settings) -> None:
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own, own.topic_prefix)

    async def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(zvt_control, own, *arguments)

    engaged = await run("kill-switch", "on", "--account", "acct-cli", "--reason", "cli test", "--by", "ops-1")
    assert engaged.returncode == 0, engaged.stderr
    assert "control.kill_switch_set account:acct-cli by ops-1" in engaged.stdout
    bad = await run("limits", "acct-cli", "max_open_orders=2.5", "--reason", "x")
    assert bad.returncode == 2
    assert "whole number" in bad.stdout
    assert (await run("kill-switch", "maybe", "--reason", "x")).returncode == 2
    changed = await run(
        "limits", "acct-cli", "max_order_notional=750", "--reason", "smaller", "--by", "ops-2"
    )
    assert changed.returncode == 0, changed.stderr
    assert (await run("halt", "ma-cli", "--reason", "paused", "--by", "ops-1")).returncode == 0
    shown = await run("show")
    assert shown.returncode == 0, shown.stderr
    assert "Control state (3 commands)" in shown.stdout
    for line in ("kill switch acct-cli", "strategy ma-cli", "acct-cli max_order_notional"):
        assert line in shown.stdout
    assert "750" in shown.stdout
    assert "HALTED" in shown.stdout
