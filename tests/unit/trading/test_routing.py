"""Smart order routing: venue scores (fees, size, latency, health) and the split into legs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from schemas import OrderValidated, VenueScore
from schemas.primitives import Side
from tests.unit.trading.builders import D, rules, top, validated
from trading.books import BookTop
from trading.config import RoutingWeights
from trading.routing import RouteDecision, VenueCandidate, route, score_venues

WEIGHTS = RoutingWeights()  # price 1, size 0.5, latency 1 per second, 3 legs
PRICE_ONLY = RoutingWeights(size=D(0))


def candidate(
    venue: str,
    *,
    ask: str | None = "100",
    ask_size: str = "1",
    bid: str | None = "99",
    bid_size: str = "1",
    fee: str = "0.001",
    latency_ms: str = "0",
    healthy: bool = True,
    book: bool = True,
    **rule_overrides: Any,
) -> VenueCandidate:
    book_top: BookTop | None = None
    if book:
        book_top = top(venue, bid=bid, bid_size=bid_size, ask=ask, ask_size=ask_size)
    return VenueCandidate(
        rules=rules(venue, taker_fee=D(fee), **rule_overrides),
        top=book_top,
        latency_ms=D(latency_ms),
        healthy=healthy,
    )


def order(quantity: str = "1", side: Side = Side.BUY, limit: str | None = None) -> OrderValidated:
    if limit is None:
        return validated(quantity=D(quantity), side=side)
    return validated(quantity=D(quantity), side=side, limit_price=D(limit))


def by_venue(scores: list[VenueScore] | tuple[VenueScore, ...]) -> dict[str, VenueScore]:
    return {score.venue: score for score in scores}


def legs(decision: RouteDecision | None) -> dict[str, Decimal]:
    assert decision is not None
    return {leg.venue: leg.quantity for leg in decision.legs}


def mixed_candidates() -> list[VenueCandidate]:
    return [
        candidate("alpha", fee="0", ask="100", ask_size="2"),  # effective 100: the best
        candidate("beta", fee="0.01", ask="100", ask_size="0.5", latency_ms="100"),  # effective 101
        candidate("gamma", fee="0", ask="99", ask_size="1", healthy=False),  # cheapest, but circuit open
        candidate("delta", book=False),
    ]


def test_exact_scores_for_a_small_case() -> None:
    scores = score_venues(order("1"), mixed_candidates(), WEIGHTS)
    # alpha: 1 x 100/100 + 0.5 x min(2/1, 1) - 0 = 1.5
    # beta:  1 x 100/101 + 0.5 x 0.5/1 - 0.1 s x 1 = 0.990099... + 0.25 - 0.1 = 1.140099...
    assert [(s.venue, s.score) for s in scores] == [
        ("alpha", D("1.500000")),
        ("beta", D("1.140099")),
        ("delta", D("0.000000")),  # no book
        ("gamma", D("0.000000")),  # unhealthy; ties broken by name
    ]
    beta = by_venue(scores)["beta"]
    assert beta.expected_price == D(100)
    assert beta.available_quantity == D("0.5")
    assert beta.fee_rate == D("0.01")
    assert beta.latency_ms == D(100)


def test_unhealthy_venue_scores_zero_gets_no_leg_and_does_not_set_the_best_price() -> None:
    decision = route(order("1"), mixed_candidates(), WEIGHTS)
    assert decision is not None
    gamma = by_venue(decision.scores)["gamma"]
    assert gamma.score == 0
    assert gamma.healthy is False
    assert gamma.expected_price == D(99)
    # gamma's 99 would have been the best price; alpha still scores a full 1 on price
    assert by_venue(decision.scores)["alpha"].score == D("1.5")
    assert legs(decision) == {"alpha": D(1)}


def test_no_book_scores_zero_and_gets_no_leg() -> None:
    decision = route(order("1"), mixed_candidates(), WEIGHTS)
    assert decision is not None
    delta = by_venue(decision.scores)["delta"]
    assert (delta.score, delta.expected_price, delta.available_quantity) == (D(0), None, D(0))
    assert "delta" not in legs(decision)


def test_best_effective_price_after_fees_wins_for_a_sell() -> None:
    # alpha bid 100 x (1 - 0.001) = 99.9; beta's higher bid 100.2 x (1 - 0.003) = 99.8994
    candidates = [candidate("alpha", bid="100", fee="0.001"), candidate("beta", bid="100.2", fee="0.003")]
    scores = score_venues(order("1", Side.SELL), candidates, WEIGHTS)
    assert [s.venue for s in scores] == ["alpha", "beta"]
    # beta: 99.8994 / 99.9 + 0.5 = 1.4999939939... -> 1.499994
    assert by_venue(scores)["beta"].score == D("1.499994")
    assert by_venue(scores)["alpha"].score == D("1.5")
    assert by_venue(scores)["beta"].expected_price == D("100.2")  # the bid, not the ask


def test_best_effective_price_after_fees_wins_for_a_buy() -> None:
    # alpha ask 100 x 1.003 = 100.3; beta 100.2 x 1.0005 = 100.2501: beta's higher ask is cheaper
    candidates = [candidate("alpha", ask="100", fee="0.003"), candidate("beta", ask="100.2", fee="0.0005")]
    decision = route(order("1"), candidates, WEIGHTS)
    assert decision is not None
    assert [s.venue for s in decision.scores] == ["beta", "alpha"]
    assert legs(decision) == {"beta": D(1)}


def split_candidates() -> list[VenueCandidate]:
    return [
        candidate("gamma", ask="100.2", ask_size="0.1"),  # 100/100.2 + 0.05 = 1.048004
        candidate("alpha", ask="100", ask_size="0.4"),  # 1 + 0.5 x 0.4 = 1.2
        candidate("beta", ask="100.1", ask_size="0.35"),  # 100/100.1 + 0.175 = 1.174001
    ]


def test_split_across_venues_and_leftover_to_the_best() -> None:
    decision = route(order("1"), split_candidates(), WEIGHTS)
    assert decision is not None
    assert [(s.venue, s.score) for s in decision.scores] == [
        ("alpha", D("1.200000")),
        ("beta", D("1.174001")),
        ("gamma", D("1.048004")),
    ]
    # 0.4 + 0.35 + 0.1 shown; the 0.15 no book covers goes to alpha
    assert legs(decision) == {"alpha": D("0.55"), "beta": D("0.35"), "gamma": D("0.1")}
    assert sum(leg.quantity for leg in decision.legs) == D(1)
    assert {leg.venue: leg.expected_price for leg in decision.legs} == {
        "alpha": D(100),
        "beta": D("100.1"),
        "gamma": D("100.2"),
    }


def test_an_order_naming_a_venue_goes_only_there() -> None:
    decision = route(order("1").model_copy(update={"venue": "gamma"}), split_candidates(), WEIGHTS)
    assert legs(decision) == {"gamma": D(1)}
    assert decision is not None
    assert [s.venue for s in decision.scores] == ["gamma"]


def test_max_legs_limits_the_split() -> None:
    decision = route(order("1"), split_candidates(), RoutingWeights(max_legs=2))
    assert legs(decision) == {"alpha": D("0.65"), "beta": D("0.35")}


def test_single_short_venue_takes_the_whole_order() -> None:
    decision = route(order("1"), [candidate("alpha", ask_size="0.3")], WEIGHTS)
    assert legs(decision) == {"alpha": D(1)}


def test_legs_are_rounded_to_each_venue_step() -> None:
    candidates = [
        candidate("alpha", ask="100", ask_size="0.456", amount_step=D("0.01")),
        candidate("beta", ask="101", ask_size="5"),
    ]
    decision = route(order("1"), candidates, PRICE_ONLY)  # alpha's better price ranks it first
    assert legs(decision) == {"alpha": D("0.45"), "beta": D("0.55")}


def test_leg_below_the_venue_min_amount_is_skipped() -> None:
    candidates = [
        candidate("alpha", ask="100", ask_size="0.3", min_amount=D("0.5")),
        candidate("beta", ask="101", ask_size="5"),
    ]
    decision = route(order("1"), candidates, PRICE_ONLY)
    assert decision is not None
    assert decision.scores[0].venue == "alpha"
    assert legs(decision) == {"beta": D(1)}


@pytest.mark.parametrize(("side", "limit"), [(Side.BUY, "99.5"), (Side.SELL, "99.5")])
def test_limit_not_marketable_has_nothing_available(side: Side, limit: str) -> None:
    # alpha: ask 100 / bid 99 cannot fill a buy at 99.5 or a sell at 99.5
    # beta:  ask 99 / bid 100 can
    candidates = [
        candidate("alpha", ask="100", bid="99"),
        candidate("beta", ask="99", bid="100"),
    ]
    decision = route(order("1", side, limit), candidates, WEIGHTS)
    assert decision is not None
    alpha = by_venue(decision.scores)["alpha"]
    assert alpha.available_quantity == 0
    assert by_venue(decision.scores)["beta"].available_quantity == D(1)
    assert legs(decision) == {"beta": D(1)}


def test_limit_exactly_at_the_price_is_marketable() -> None:
    scores = score_venues(order("1", Side.BUY, "100"), [candidate("alpha", ask="100")], WEIGHTS)
    assert scores[0].available_quantity == D(1)


@pytest.mark.parametrize(
    "candidates",
    [
        pytest.param([], id="no candidates"),
        pytest.param(
            [candidate("alpha", healthy=False), candidate("beta", healthy=False)], id="all unhealthy"
        ),
        pytest.param([candidate("alpha", book=False)], id="no book"),
        pytest.param([candidate("alpha", ask=None)], id="empty ask side"),
        pytest.param([candidate("alpha", latency_ms="2000")], id="latency eats the score"),
    ],
)
def test_route_returns_none_without_a_usable_venue(candidates: list[VenueCandidate]) -> None:
    assert route(order("1"), candidates, WEIGHTS) is None


def test_ties_are_broken_by_venue_name() -> None:
    candidates = [candidate("zeta"), candidate("alpha"), candidate("mu")]
    decision = route(order("1"), candidates, WEIGHTS)
    assert decision is not None
    assert [s.venue for s in decision.scores] == ["alpha", "mu", "zeta"]
    assert len({s.score for s in decision.scores}) == 1
    assert legs(decision) == {"alpha": D(1)}
    assert route(order("1"), list(reversed(candidates)), WEIGHTS) == decision


def test_no_leg_below_the_venue_min_cost() -> None:
    # alpha shows 0.999, so beta (min cost 10) gets the remaining 0.001 x 100.1 = 0.1001
    candidates = [
        candidate("alpha", ask="100", ask_size="0.999"),
        candidate("beta", ask="100.1", ask_size="5", min_cost=D(10)),
    ]
    decision = route(order("1"), candidates, WEIGHTS)
    assert decision is not None
    assert sum(leg.quantity for leg in decision.legs) == D(1)
    for leg in decision.legs:
        venue_rules = next(c.rules for c in candidates if c.rules.venue == leg.venue)
        if venue_rules.min_cost is not None and leg.expected_price is not None:
            assert leg.quantity * leg.expected_price >= venue_rules.min_cost


def test_repeated_scores_keep_the_digits_of_their_own_inputs() -> (
    None
):
    first = by_venue(score_venues(order(), [candidate("alpha", ask_size="2", latency_ms="0")], WEIGHTS))
    # Equal values in other digits: a cache keyed by value would hand back the first score's text.
    again = by_venue(score_venues(order(), [candidate("alpha", ask_size="2.000", latency_ms="0.0")], WEIGHTS))
    assert first["alpha"] == again["alpha"]  # equal values
    assert (str(first["alpha"].available_quantity), str(first["alpha"].latency_ms)) == ("2", "0")
    assert (str(again["alpha"].available_quantity), str(again["alpha"].latency_ms)) == ("2.000", "0.0")
    repeated = by_venue(score_venues(order(), [candidate("alpha", ask_size="2", latency_ms="0")], WEIGHTS))
    assert repeated["alpha"].model_dump_json() == first["alpha"].model_dump_json()
