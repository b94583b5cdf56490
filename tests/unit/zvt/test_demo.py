"""`zvt demo`'s bookkeeping: when every order has ended, and what each row says of its end."""

from __future__ import annotations

from schemas import CancelReason, OrderStatus
from tests.unit.trading.builders import canceled, executed, expired, request
from zvt.demo import DemoResult, outcome_rows


def test_an_order_ends_with_its_cancel_only_once_the_fills_it_counts_are_in() -> None:
    order = request(order_id="ord-1", quantity="0.5")
    result = DemoResult(orders=[order])
    fill = executed(quantity="0.2", price="100", cumulative="0.2", remaining="0.3",
                    status=OrderStatus.PARTIALLY_FILLED, fill_id="f1")  # fmt: skip
    cancel = canceled(canceled_quantity="0.3", cumulative="0.2", reason=CancelReason.UNFILLED_REMAINDER)
    result.outcomes["ord-1"] = [cancel]
    assert not result.done()  # the cancel came first (another topic): its fill is still on the way
    result.outcomes["ord-1"].append(fill)
    assert not result.done()  # the fill's position update has not arrived
    result.position_fills.add("f1")
    assert result.done()
    row = next(outcome_rows(result))
    assert row[4:] == ("canceled", "0.2", "100", "0")


def test_an_expired_order_is_a_row_of_its_own() -> None:
    order = request(order_id="ord-1", quantity="0.5", limit_price="90")
    result = DemoResult(orders=[order], outcomes={"ord-1": [expired(expired_quantity="0.5")]})
    assert result.done()
    assert next(outcome_rows(result))[4:] == ("expired", "", "", "")
