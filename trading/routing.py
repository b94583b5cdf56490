"""Smart order routing: score every venue that lists the symbol, then split the order across the best.

score = price weight x (best effective price / this venue's, inverted for sells: 1 for the best venue)
      + size weight x (share of the order the venue's book top can fill now, at most 1)
      - latency weight x measured latency in seconds.
The effective price includes the taker fee. Unhealthy venues (circuit open) and venues without a book
score 0 and get no leg. Legs go to venues in score order, each up to the size its book shows; whatever no
book covers goes to the best venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from schemas import OrderValidated, RouteLeg, VenueScore
from schemas.primitives import Side
from trading.books import BookTop
from trading.config import RoutingWeights
from trading.markets import MarketRules

ZERO = Decimal(0)
SCORE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class VenueCandidate:
    """What the router knows about one venue for one order."""

    rules: MarketRules
    top: BookTop | None
    latency_ms: Decimal
    healthy: bool


@dataclass(frozen=True)
class RouteDecision:
    legs: tuple[RouteLeg, ...]
    scores: tuple[VenueScore, ...]


_SCORES: dict[tuple[object, ...], VenueScore] = {}  # see `_venue_score`
_SCORES_KEPT = 4096


def _venue_score(
    venue: str,
    score: Decimal,
    fee_rate: Decimal,
    expected_price: Decimal | None,
    available: Decimal,
    latency_ms: Decimal,
    healthy: bool,
) -> VenueScore:
    """The (frozen) score with these values, built once: every order scores every venue listing its
    symbol, and most scores repeat from one order to the next (a venue without a book, an unchanged top),
    while building one costs more than the rest of the scoring. Keyed by the decimals' text, so a cached
    score is the same JSON as a new one would be (0 and 0.000 are equal, not the same text)."""
    key = (venue, str(score), str(fee_rate), str(expected_price), str(available), str(latency_ms), healthy)
    found = _SCORES.get(key)
    if found is None:
        if len(_SCORES) >= _SCORES_KEPT:
            _SCORES.clear()
        found = _SCORES[key] = VenueScore(
            venue=venue,
            score=score,
            fee_rate=fee_rate,
            expected_price=expected_price,
            available_quantity=available,
            latency_ms=latency_ms,
            healthy=healthy,
        )
    return found


def _effective(price: Decimal, fee: Decimal, side: Side) -> Decimal:
    return price * (1 + fee) if side is Side.BUY else price * (1 - fee)


def _available(candidate: VenueCandidate, order: OrderValidated) -> tuple[Decimal | None, Decimal]:
    """Expected price and the size fillable within the order's limit on this venue's top."""
    if candidate.top is None:
        return None, ZERO
    price, size = candidate.top.opposite(order.side)
    if price is None:
        return None, ZERO
    limit = order.limit_price
    marketable = limit is None or (price <= limit if order.side is Side.BUY else price >= limit)
    return price, size if marketable else ZERO


def score_venues(
    order: OrderValidated, candidates: Sequence[VenueCandidate], weights: RoutingWeights
) -> list[VenueScore]:
    """One score per candidate, best first (ties broken by venue name, so routing is deterministic)."""
    quotes = {c.rules.venue: _available(c, order) for c in candidates}
    effective = {
        c.rules.venue: _effective(price, c.rules.taker_fee, order.side)
        for c in candidates
        if (price := quotes[c.rules.venue][0]) is not None and c.healthy
    }
    best = (min if order.side is Side.BUY else max)(effective.values(), default=None)
    scores = []
    for candidate in candidates:
        venue = candidate.rules.venue
        price, available = quotes[venue]
        score = ZERO
        if best is not None and venue in effective:
            eff = effective[venue]
            price_term = best / eff if order.side is Side.BUY else eff / best
            size_term = min(available / order.quantity, Decimal(1))
            latency_term = candidate.latency_ms / 1000 * weights.latency_per_second
            score = max(weights.price * price_term + weights.size * size_term - latency_term, ZERO)
        scores.append(
            _venue_score(
                venue,
                score.quantize(SCORE_PLACES),
                candidate.rules.taker_fee,
                price,
                available,
                candidate.latency_ms,
                candidate.healthy,
            )
        )
    return sorted(scores, key=lambda s: (-s.score, s.venue))


def route(
    order: OrderValidated, candidates: Sequence[VenueCandidate], weights: RoutingWeights
) -> RouteDecision | None:
    """Legs for the order, or None when no venue can take it (all unhealthy or without a book).

    An order that names a venue is routed only there."""
    candidates = [c for c in candidates if order.venue in (None, c.rules.venue)]
    scores = score_venues(order, candidates, weights)
    rules = {c.rules.venue: c.rules for c in candidates}
    usable = [s for s in scores if s.score > 0]
    if not usable:
        return None
    allocation: dict[str, Decimal] = {}
    remaining = order.quantity
    for venue_score in usable[: weights.max_legs]:
        venue_rules = rules[venue_score.venue]
        take = venue_rules.round_quantity(min(remaining, venue_score.available_quantity))
        price = venue_score.expected_price
        too_small = (venue_rules.min_amount is not None and take < venue_rules.min_amount) or (
            venue_rules.min_cost is not None and price is not None and take * price < venue_rules.min_cost
        )
        if take <= 0 or too_small:
            continue
        allocation[venue_score.venue] = take
        remaining -= take
        if remaining == 0:
            break
    if remaining > 0:
        best = usable[0].venue
        allocation[best] = allocation.get(best, ZERO) + remaining
    expected = {s.venue: s.expected_price for s in scores}
    legs = tuple(
        RouteLeg(venue=venue, quantity=quantity, expected_price=expected[venue])
        for venue, quantity in allocation.items()
    )
    return RouteDecision(legs=legs, scores=tuple(scores))
