from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.flows import FlowGenerator
from eventstore.aggregates import _AGGREGATE_OF, aggregate_id_of
from schemas import ALL_EVENT_TYPES, Event, OrderExecuted, PositionUpdated
from tests.strategies import EVENT_STRATEGIES


def test_every_event_type_has_an_aggregate() -> None:
    assert set(_AGGREGATE_OF) == set(ALL_EVENT_TYPES)


def test_order_events_share_the_order_stream_and_positions_are_account_and_symbol() -> None:
    events = FlowGenerator(seed=1).flow(0)
    orders = {aggregate_id_of(e) for e in events if not isinstance(e, PositionUpdated)}
    assert orders == {"ord-1-0000000"}
    fill = next(e for e in events if isinstance(e, OrderExecuted))
    positions = [aggregate_id_of(e) for e in events if isinstance(e, PositionUpdated)]
    assert set(positions) == {f"{fill.account_id}:{fill.symbol}"}


any_event = st.one_of(*EVENT_STRATEGIES.values())


@settings(max_examples=300)
@given(first=any_event, second=any_event)
def test_kinds_never_collide(first: Event, second: Event) -> None:
    if _AGGREGATE_OF[type(first)] is not _AGGREGATE_OF[type(second)]:
        assert aggregate_id_of(first) != aggregate_id_of(second)
