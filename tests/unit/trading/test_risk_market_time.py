"""Risk in market time: the engine's outcomes count for the checks after their market time, whatever
order they arrive in; reduce-only is capped to the position."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Event, OrderRequested, OrderStatus, OrderValidated, RejectReason, RiskOutcomeKind
from schemas.primitives import Side
from tests.unit.trading.builders import (
    T0,
    D,
    accepted,
    amended,
    canceled,
    executed,
    expired,
    ms,
    request,
    rules,
    validated,
)
from trading.config import RiskLimits
from trading.markets import MarketCatalog
from trading.risk import AccountRiskState, Rejection, check_order, risk_outcome

BTC = "BTC/USDT"
CATALOG = MarketCatalog([rules("alpha", BTC)])
PRICES = {BTC: D(100)}
WINDOW = timedelta(seconds=1)


def resting(order_id: str, quantity: str, at: datetime, side: Side = Side.BUY) -> AccountRiskState:
    order = validated(order_id=order_id, quantity=D(quantity), limit_price=D(100), side=side, market_time=at)
    return AccountRiskState().accept(order, D(100), WINDOW).on_venue(order_id, "alpha")


def decide(order: OrderRequested, state: AccountRiskState, **limits: Any) -> OrderValidated | Rejection:
    return check_order(order, state, CATALOG, PRICES, RiskLimits(**limits), engine=True)


def test_a_resting_order_counts_until_its_end_and_its_end_only_after_its_market_time() -> None:
    state = resting("r1", "0.5", T0)
    state = state.learn(accepted(order_id="r1", resting="0.5", at=T0 + ms(5), quantity=D("0.5")))
    state = state.learn(canceled(order_id="r1", canceled_quantity="0.5", at=T0 + ms(50)))
    one_open = {"max_open_orders": 1}
    # Decided at or before the cancel's market time: the order still counts, though its cancel is here.
    refused = decide(request(order_id="n1", market_time=T0 + ms(50)), state, **one_open)
    assert isinstance(refused, Rejection)
    assert refused.reason is RejectReason.MAX_OPEN_ORDERS
    assert isinstance(
        decide(request(order_id="n2", market_time=T0 + ms(51)), state, **one_open), OrderValidated
    )
    assert state.as_of(T0 + ms(10)).open_orders["r1"].resting  # order.accepted learnt


def test_fills_partial_then_filled_move_the_position_and_the_rest_in_market_time() -> None:
    state = resting("r1", "1", T0, side=Side.SELL)
    first = executed(quantity="0.4", price="101", cumulative="0.4", remaining="0.6", side=Side.SELL,
                     status=OrderStatus.PARTIALLY_FILLED, order_id="r1", market_time=T0 + ms(20))  # fmt: skip
    last = executed(quantity="0.6", price="102", cumulative="1", remaining="0", side=Side.SELL, fill_id="f2",
                    status=OrderStatus.FILLED, order_id="r1", market_time=T0 + ms(40))  # fmt: skip
    state = state.learn(last).learn(first)  # the later one read first: same result
    mid = state.as_of(T0 + ms(30))
    assert (mid.positions, mid.open_orders["r1"].signed_remaining) == ({BTC: D("-0.4")}, D("-0.6"))
    assert mid.last_fill_prices == {BTC: D(101)}
    end = state.as_of(T0 + ms(41))
    assert (end.positions, end.open_orders, end.last_fill_prices) == ({BTC: D(-1)}, {}, {BTC: D(102)})
    assert state.learn(first) == state  # a copy is dropped


def test_an_amend_sets_the_new_rest_and_price_and_an_expiry_closes() -> None:
    state = resting("r1", "1", T0)
    fill = executed(quantity="0.25", price="100", cumulative="0.25", remaining="0.75",
                    status=OrderStatus.PARTIALLY_FILLED, order_id="r1", market_time=T0 + ms(10))  # fmt: skip
    amend = amended(order_id="r1", quantity=D(2), limit_price=D(99), cumulative="0.25", at=T0 + ms(10))
    state = state.learn(amend).learn(fill)  # same market time: the tick's fill came before the amend
    order = state.as_of(T0 + ms(11)).open_orders["r1"]
    assert (order.signed_remaining, order.price) == (D("1.75"), D(99))
    gone = state.learn(expired(order_id="r1", expired_quantity="1.75", cumulative="0.25", at=T0 + ms(90)))
    assert gone.as_of(T0 + ms(91)).open_orders == {}
    assert gone.as_of(T0 + ms(91)).positions == {BTC: D("0.25")}


def test_open_orders_and_rate_count_only_orders_decided_by_the_market_time() -> None:
    late = AccountRiskState().accept(validated(order_id="later", market_time=T0 + ms(500)), D(100), WINDOW)
    # An order decided earlier but judged after it: the later order is not counted.
    early = request(order_id="early", market_time=T0 + ms(100))
    assert isinstance(decide(early, late, max_open_orders=1, max_orders_per_window=1), OrderValidated)
    refused = decide(request(order_id="n", market_time=T0 + ms(600)), late, max_orders_per_window=1)
    assert isinstance(refused, Rejection)
    assert refused.reason is RejectReason.ORDER_RATE


def test_outcomes_needed_names_the_symbols_of_resting_orders_decided_before() -> None:
    state = resting("r1", "1", T0)
    assert state.outcomes_needed(T0) == set()
    assert state.outcomes_needed(T0 + ms(1)) == {BTC}
    assert AccountRiskState().accept(validated(), D(100), WINDOW).outcomes_needed(T0 + ms(1)) == set()


def test_a_check_waits_for_the_outcome_watermark_of_each_needed_symbol_just_before_its_time() -> None:
    state = resting("r1", "1", T0)
    assert state.outcomes_missing(T0 + ms(10), {}) == {BTC}  # no watermark yet
    assert state.outcomes_missing(T0 + ms(10), {BTC: T0 + ms(10) - timedelta(microseconds=2)}) == {BTC}
    assert state.outcomes_missing(T0 + ms(10), {BTC: T0 + ms(10) - timedelta(microseconds=1)}) == set()
    assert state.outcomes_missing(T0, {}) == set()  # decided with the order: none of its outcomes before


def test_an_engine_outcome_sent_for_risk_counts_as_the_event_it_copies() -> None:
    """The copy on paper.outcomes (`risk_outcome`) gives the state the event itself gives, a copy of
    either is dropped; events without a market time have none (counted at once where read)."""
    fill = executed(quantity="0.4", price="101", cumulative="0.4", remaining="0.6",
                    status=OrderStatus.PARTIALLY_FILLED, order_id="r1", market_time=T0 + ms(20))  # fmt: skip
    copy = risk_outcome(fill)
    assert copy is not None
    assert (copy.kind, copy.at, copy.signed_fill, copy.price, copy.signed_remaining) == (
        RiskOutcomeKind.FILL, T0 + ms(20), D("0.4"), D(101), D("0.6"),
    )  # fmt: skip
    assert copy.source_event_id == fill.event_id
    state = resting("r1", "1", T0)
    assert state.learn(copy) == state.learn(fill)
    assert state.learn(copy).learn(fill) == state.learn(copy)
    end = canceled(order_id="r1", canceled_quantity="0.6", at=T0 + ms(50))
    assert state.learn(fill).learn(end).as_of(T0 + ms(51)) == state.learn(copy).learn(
        risk_outcome(end)  # type: ignore[arg-type]
    ).as_of(T0 + ms(51))
    immediate = fill.model_copy(update={"market_time": None})
    assert risk_outcome(immediate) is None  # the order stage's own fill: no market time


# --- reduce-only ---------------------------------------------------------------------------------------


def long_position(quantity: str) -> AccountRiskState:
    fill = executed(quantity=quantity, price="100", cumulative=quantity, remaining="0",
                    status=OrderStatus.FILLED, order_id="old")  # fmt: skip
    return AccountRiskState().apply_fill(fill)


def test_reduce_only_is_capped_to_the_position_less_the_open_orders_on_its_side() -> None:
    state = long_position("0.5")
    capped = decide(request(side=Side.SELL, quantity=D(2), reduce_only=True), state)
    assert isinstance(capped, OrderValidated)
    assert capped.quantity == D("0.5")
    assert capped.reduce_only
    asked_less = decide(request(side=Side.SELL, quantity=D("0.2"), reduce_only=True), state)
    assert isinstance(asked_less, OrderValidated)
    assert asked_less.quantity == D("0.2")
    selling = state.accept(validated(order_id="s1", side=Side.SELL, quantity=D("0.3")), D(100), WINDOW)
    rest = decide(request(order_id="n", side=Side.SELL, quantity=D(2), reduce_only=True), selling)
    assert isinstance(rest, OrderValidated)
    assert rest.quantity == D("0.2")


def test_reduce_only_is_refused_with_nothing_to_reduce_and_without_the_engine() -> None:
    state = long_position("0.5")
    same_side = decide(request(side=Side.BUY, quantity=D("0.1"), reduce_only=True), state)
    assert isinstance(same_side, Rejection)
    assert same_side.reason is RejectReason.REDUCE_ONLY
    flat = decide(request(side=Side.SELL, quantity=D("0.1"), reduce_only=True), AccountRiskState())
    assert isinstance(flat, Rejection)
    assert flat.reason is RejectReason.REDUCE_ONLY
    off = check_order(request(side=Side.SELL, reduce_only=True), state, CATALOG, PRICES, RiskLimits())
    assert isinstance(off, Rejection)
    assert off.reason is RejectReason.UNSUPPORTED_ORDER


def test_reduce_only_counts_the_position_as_of_its_market_time() -> None:
    state = resting("r1", "0.5", T0)
    fill = executed(quantity="0.5", price="100", cumulative="0.5", remaining="0",
                    status=OrderStatus.FILLED, order_id="r1", market_time=T0 + ms(100))  # fmt: skip
    state = state.learn(fill)
    sell = {"side": Side.SELL, "quantity": D(1), "reduce_only": True}
    before = decide(request(order_id="a", market_time=T0 + ms(100), **sell), state)
    assert isinstance(before, Rejection)
    assert before.reason is RejectReason.REDUCE_ONLY
    after = decide(request(order_id="b", market_time=T0 + ms(101), **sell), state)
    assert isinstance(after, OrderValidated)
    assert after.quantity == D("0.5")


# --- the same events in any arrival order give the same decisions --------------------------------------

LIMITS: dict[str, Any] = {
    "max_open_orders": 2,
    "max_orders_per_window": 3,
    "rate_window_seconds": D(1),
    "max_position_notional": D(150),
}


def _scenario() -> tuple[list[OrderRequested], list[tuple[int, Event]]]:
    """Requests 200 ms apart (GTC limit buys of 0.5 at 100, the last a reduce-only sell), and the
    engine's outcomes of the ones it holds, each with the index of its request: it cannot come before."""
    times = [T0 + ms(200 * i) for i in range(6)]
    requests = [
        request(order_id=f"o{i}", quantity=D("0.5"), limit_price=D(100), market_time=at)
        for i, at in enumerate(times)
    ]
    requests[5] = request(
        order_id="o5", side=Side.SELL, quantity=D(1), reduce_only=True, market_time=times[5]
    )
    outcomes: list[tuple[int, Event]] = [
        (0, accepted(order_id="o0", resting="0.5", quantity=D("0.5"), at=times[0] + ms(5))),
        (0, executed(quantity="0.2", price="100", cumulative="0.2", remaining="0.3", order_id="o0",
                     status=OrderStatus.PARTIALLY_FILLED, market_time=times[1] + ms(50))),
        (0, executed(quantity="0.3", price="100", cumulative="0.5", remaining="0", order_id="o0",
                     fill_id="f2", status=OrderStatus.FILLED, market_time=times[2] + ms(30))),
        (1, accepted(order_id="o1", resting="0.5", quantity=D("0.5"), at=times[1] + ms(5))),
        (1, canceled(order_id="o1", canceled_quantity="0.5", at=times[3] + ms(10))),
        (3, accepted(order_id="o3", resting="0.5", quantity=D("0.5"), at=times[3] + ms(5))),
        (3, expired(order_id="o3", expired_quantity="0.5", at=times[4] + ms(20))),
    ]  # fmt: skip
    return requests, outcomes


def _at(order: OrderRequested) -> datetime:
    assert order.market_time is not None
    return order.market_time


def _event_time(event: Event) -> datetime:
    for name in ("accepted_at", "canceled_at", "expire_at", "amended_at", "market_time"):
        at = getattr(event, name, None)
        if at is not None:
            return at
    raise AssertionError(event)


def _decisions(requests: Sequence[OrderRequested], arrivals: Sequence[Event | OrderRequested]) -> list[str]:
    state, decided = AccountRiskState(), []
    for item in arrivals:
        if not isinstance(item, OrderRequested):
            state = state.learn(item)
            continue
        # The stage's rule: a request at t is decided once the outcomes before t have arrived.
        decision = decide(item, state, **LIMITS)
        if isinstance(decision, Rejection):
            decided.append(f"{item.order_id}: {decision.reason.value}")
            continue
        decided.append(f"{item.order_id}: {decision.quantity}")
        state = state.accept(decision, decision.limit_price or D(100), WINDOW).on_venue(
            item.order_id, "alpha"
        )
    assert len(decided) == len(requests)
    return decided


@st.composite
def interleavings(draw: st.DrawFn) -> list[Event | OrderRequested]:
    """Each outcome arrives at any point after its order's request and before the first request decided
    after its market time (the watermark); where between is drawn."""
    requests, outcomes = _scenario()
    slots: dict[int, list[Event]] = {}
    for owner, event in outcomes:
        due = next((i for i, r in enumerate(requests) if _at(r) > _event_time(event)), len(requests))
        slots.setdefault(draw(st.integers(owner + 1, due)), []).append(event)
    arrivals: list[Event | OrderRequested] = []
    for i in range(len(requests) + 1):
        arrivals.extend(draw(st.permutations(slots.get(i, []))))
        if i < len(requests):
            arrivals.append(requests[i])
    return arrivals


def _as_late_as_allowed() -> list[Event | OrderRequested]:
    requests, outcomes = _scenario()
    arrivals: list[Event | OrderRequested] = []
    for request_ in requests:
        arrivals += [e for _, e in outcomes if _event_time(e) < _at(request_) and e not in arrivals]
        arrivals.append(request_)
    return arrivals


def _as_early_as_possible() -> list[Event | OrderRequested]:
    requests, outcomes = _scenario()
    arrivals: list[Event | OrderRequested] = []
    for i, request_ in enumerate(requests):
        arrivals.append(request_)
        arrivals += [e for owner, e in outcomes if owner == i]
    return arrivals


def test_two_arrival_interleavings_give_the_same_decisions() -> None:
    requests, _ = _scenario()
    late, early = _as_late_as_allowed(), _as_early_as_possible()
    assert late != early
    decided = _decisions(requests, late)
    assert decided == _decisions(requests, early)
    # The decisions of market time (ms after T0; limits: 2 open, 3 per second, position 150 at 100):
    assert decided == [
        "o0: 0.5",
        "o1: 0.5",  # o0 open (filled only at 430): two open now
        "o2: max_open_orders",  # at 400 o0 and o1 are both still open
        "o3: 0.5",  # at 600 o0 has filled (430), o1 not yet canceled (610): position 0.5 + 1 open = 150
        "o4: order_rate",  # at 800: o0, o1, o3 in (-200, 800]
        "o5: 0.5",  # reduce-only sell capped to the 0.5 held; o3 expired at 820, nothing on the sell side
    ]


@settings(max_examples=60, deadline=None)
@given(interleavings())
def test_any_arrival_interleaving_gives_the_same_decisions(arrivals: list[Event | OrderRequested]) -> None:
    requests, _ = _scenario()
    assert _decisions(requests, arrivals) == _decisions(requests, _as_late_as_allowed())
