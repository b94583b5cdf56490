"""The pure fold: positions keep the latest state, portfolios sum per currency, flows end when they end
(a fill, a refusal, or a resting order's cancel or expiry)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from bench.flows import FlowGenerator
from eventstore.projections import Position, ReadModels, Row, Snapshot, portfolios_of
from eventstore.store import NewEvent, plan_append
from schemas import CancelReason, Event, OrderExecuted, OrderValidated, PositionUpdated
from tests.unit.trading.builders import T0, D, request
from trading.order_lifecycle import OrderLifecycle


def _rows(events: list[Event]) -> list[Row]:
    planned = plan_append(
        [NewEvent.of(e) for e in events], stored_ids=set(), versions={}, expected_versions={}, last_position=0
    )
    return [Row.of(stored) for stored in planned.stored]


def test_positions_are_the_latest_update_of_each_account_and_symbol() -> None:
    events = FlowGenerator(seed=21).events(2000)
    models = ReadModels()
    models.apply_all(_rows(events))
    latest: dict[tuple[str, str], PositionUpdated] = {}
    for event in events:
        if isinstance(event, PositionUpdated):
            latest[(event.account_id, event.symbol)] = event
    assert set(models.positions) == set(latest)
    for key, event in latest.items():
        position = models.positions[key]
        assert (position.quantity, position.realized_pnl, position.mark_price) == (
            event.quantity,
            event.realized_pnl,
            event.mark_price,
        )
        assert position.updated_at == event.timestamp


def test_portfolios_sum_per_account_and_currency() -> None:
    base = Position(
        "a", "BTC/USDT", Decimal(2), Decimal(100), Decimal(5), Decimal(1), Decimal("0.5"), Decimal(110),
        "USDT", 3, 30, FlowGenerator().start,
    )  # fmt: skip
    eth = replace(base, symbol="ETH/USDT", quantity=Decimal(0), mark_price=None, last_position=31)
    usd = replace(base, symbol="BTC/USD", quote_currency="USD", mark_price=None)
    other = replace(base, account_id="b")
    portfolios = {(p.portfolio_id, p.currency): p for p in portfolios_of([base, eth, usd, other])}
    usdt = portfolios[("a", "USDT")]
    assert usdt.total_value == Decimal(220)  # 2 x 110; the flat ETH position adds nothing
    assert (usdt.realized_pnl, usdt.fees_paid, usdt.open_positions) == (Decimal(10), Decimal(1), 1)
    assert usdt.last_event_version == 31
    assert portfolios[("a", "USD")].total_value == Decimal(200)  # no mark yet: at cost
    assert set(portfolios) == {("a", "USDT"), ("a", "USD"), ("b", "USDT")}


def test_flows_count_their_events_and_end_with_their_terminal_event() -> None:
    generator = FlowGenerator(seed=22)
    flows = [generator.flow(i) for i in range(200)]
    models = ReadModels()
    models.apply_all(_rows([e for flow in flows for e in flow]))
    for flow in flows:
        correlation = models.correlations[flow[0].correlation_id]
        assert correlation.event_count == len(flow)
        assert correlation.flow_type == "order"
        fills = [e for e in flow if isinstance(e, OrderExecuted)]
        assert correlation.status == ("filled" if fills else "rejected")
        end = fills[-1].timestamp if fills else flow[-1].timestamp
        assert correlation.completed_at == end
        assert correlation.started_at == flow[0].timestamp


def test_folding_in_batches_equals_folding_at_once() -> None:
    rows = _rows(FlowGenerator(seed=23).events(1500))
    whole, pieces = ReadModels(), ReadModels()
    whole.apply_all(rows)
    for start in range(0, len(rows), 97):
        pieces.apply_all(rows[start : start + 97])
    assert Snapshot.of(whole).differences(Snapshot.of(pieces)) == []
    assert Snapshot.of(whole) == Snapshot.of(pieces)
    pieces.apply_all(rows[-1:])  # a doubled event is visible
    assert Snapshot.of(whole).differences(Snapshot.of(pieces)) == [
        "correlations: 1 rows only here, 1 only there"
    ]


def test_a_resting_order_canceled_or_expired_on_the_engine_ends_its_flow_so() -> None:
    first = request(limit_price=D(100), quantity=D("0.5"), expire_at=T0 + timedelta(seconds=2))
    passed = first.caused(OrderValidated, **first.order_terms())
    order = OrderLifecycle.requested(first).apply(passed)
    accepted = order.accept("binance", "paper-1", D("0.5"), T0, "rests")
    canceled = accepted.order.cancel(CancelReason.REQUESTED, "by hand", T0 + timedelta(seconds=1))
    expired = accepted.order.expire()
    for end, status in ((canceled.event, "canceled"), (expired.event, "expired")):
        models = ReadModels()
        models.apply_all(_rows([first, passed, accepted.event, end]))
        correlation = models.correlations[first.correlation_id]
        assert (correlation.status, correlation.completed_at) == (status, end.timestamp)
    resting = ReadModels()
    resting.apply_all(_rows([first, passed, accepted.event]))
    assert resting.correlations[first.correlation_id].status == "open"
