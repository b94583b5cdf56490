"""The causal tree of an order flow: each event under its cause, in order, with latencies."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console

from bench.flows import FlowGenerator
from eventstore.store import NewEvent, plan_append
from eventstore.trace import TraceNode, build, render
from schemas import Event, OrderRequested


def _flow_with_two_fills() -> list[Event]:
    generator = FlowGenerator(seed=5)
    return next(f for f in (generator.flow(i) for i in range(100)) if len(f) == 8)


def _depth_first(nodes: list[TraceNode], depth: int = 0) -> list[tuple[int, str]]:
    out = []
    for node in nodes:
        out.append((depth, node.stored.event_type))
        out += _depth_first(node.children, depth + 1)
    return out


def test_the_tree_follows_causation_and_measures_each_step() -> None:
    flow = _flow_with_two_fills()
    stored = plan_append([NewEvent.of(e) for e in reversed(flow)], stored_ids=set(), versions={},
                         expected_versions={}, last_position=0).stored  # fmt: skip
    roots = build(stored)
    assert _depth_first(roots) == [
        (0, "order.requested"),
        (1, "order.validated"),
        (2, "exchange.routed"),
        (3, "order.created"),
        (4, "order.executed"),
        (5, "position.updated"),
        (4, "order.executed"),
        (5, "position.updated"),
    ]
    created = roots[0].children[0].children[0].children[0]
    assert roots[0].latency is None
    assert created.latency == timedelta(milliseconds=25)
    assert [fill.latency for fill in created.children] == [
        timedelta(milliseconds=30),
        timedelta(milliseconds=50),
    ]

    console = Console(width=200, record=True)
    console.print(render(roots, "trace"))
    lines = console.export_text().splitlines()
    request = flow[0]
    assert isinstance(request, OrderRequested)
    assert lines[1] == (
        f"└── {request.timestamp.isoformat(timespec='milliseconds')} order.requested {request.order_id} "
        f"buy {request.quantity} {request.symbol} limit @ {request.limit_price}"
    )
    assert "order.created [+25.0 ms]" in lines[4]
    assert [line.split("── ")[1].split()[1] for line in lines[1:]] == [t for _, t in _depth_first(roots)]


def test_a_control_command_is_described_with_who_and_why() -> None:
    from eventstore.trace import describe
    from schemas import AccountLimitsSet, KillSwitchSet, StrategyHaltSet

    who = {"issued_by": "alice", "reason": "venue outage"}
    assert describe(KillSwitchSet(engaged=True, **who)) == "global kill switch ON by alice: venue outage"
    halt = StrategyHaltSet(strategy_id="ma-1", halted=False, **who)
    assert describe(halt) == "strategy:ma-1 resumed by alice: venue outage"
    limits = AccountLimitsSet(account_id="a", limits={"max_open_orders": "3"}, reset=("price_collar",), **who)
    assert describe(limits) == "account:a limits max_open_orders=3 price_collar reset by alice: venue outage"
