"""The workflow's pre-trade check: the static rules of check_order, with or without a price."""

from __future__ import annotations

from decimal import Decimal

from schemas import OrderValidated, RejectReason
from tests.unit.trading.builders import request, rules
from trading.config import RiskLimits
from trading.ids import derived_id
from trading.markets import MarketCatalog
from trading.precheck import pre_trade_check
from trading.risk import Rejection

D = Decimal
CATALOG = MarketCatalog([rules("alpha", min_amount=D("0.001")), rules("alpha", "ETH/USDT", active=False)])


def test_without_a_price_only_the_static_rules_apply() -> None:
    order = request(quantity=D("5"))  # 300k notional at 60k: refused only once a price is known
    checked = pre_trade_check(order, CATALOG, RiskLimits(), None)
    assert isinstance(checked, OrderValidated)
    assert checked.quantity == D("5")
    assert checked.event_id == derived_id(order.event_id, "prechecked")
    assert checked.causation_id == order.event_id


def test_with_a_reference_price_notional_and_rounding_apply() -> None:
    refused = pre_trade_check(request(quantity=D("5")), CATALOG, RiskLimits(), D("60000"))
    assert isinstance(refused, Rejection)
    assert refused.reason is RejectReason.MAX_ORDER_NOTIONAL
    order = request(quantity=D("0.0129"))
    checked = pre_trade_check(order, CATALOG, RiskLimits(), D("60000"))
    assert isinstance(checked, OrderValidated)
    assert checked.quantity == D("0.012")
    # Not the id of the agent's own validation, which is the one in Kafka.
    assert checked.event_id == derived_id(order.event_id, "prechecked")


def test_a_limit_price_is_the_reference() -> None:
    refused = pre_trade_check(request(quantity=D("2"), limit_price=D("60000")), CATALOG, RiskLimits(), None)
    assert isinstance(refused, Rejection)
    assert refused.reason is RejectReason.MAX_ORDER_NOTIONAL


def test_refusals_that_no_account_state_could_change() -> None:
    cases = {
        RejectReason.KILL_SWITCH: (request(), RiskLimits(kill_switch=True)),
        RejectReason.UNKNOWN_SYMBOL: (request(symbol="FOO/USDT"), RiskLimits()),
        RejectReason.MARKET_INACTIVE: (request(symbol="ETH/USDT"), RiskLimits()),
    }
    for reason, (order, limits) in cases.items():
        refused = pre_trade_check(order, CATALOG, limits, None)
        assert isinstance(refused, Rejection)
        assert refused.reason is reason
    below = pre_trade_check(request(quantity=D("0.0001")), CATALOG, RiskLimits(), D("60000"))
    assert isinstance(below, Rejection)
    assert below.reason is RejectReason.QUANTITY_BELOW_MIN


def test_with_the_engine_resting_instructions_pass_as_they_pass_the_order_stage() -> None:
    """The workflow's pre-check follows the order stage's `ZVT_PAPER_ENGINE`: a stop or post-only order
    is refused early without it and passes with it; reduce-only is left to the stage (it knows the
    position), so an empty account does not refuse it."""
    stop = request(order_type="stop_market", stop_price=D("61000"))
    post_only = request(limit_price=D("60000"), post_only=True)
    reduce_only = request(reduce_only=True)
    for order, price in ((stop, None), (stop, D("60000")), (post_only, None), (reduce_only, D("60000"))):
        off = pre_trade_check(order, CATALOG, RiskLimits(), price)
        assert isinstance(off, Rejection), order
        assert off.reason is RejectReason.UNSUPPORTED_ORDER
        on = pre_trade_check(order, CATALOG, RiskLimits(), price, engine=True)
        assert isinstance(on, OrderValidated), (order, on)
        assert on.quantity == order.quantity
