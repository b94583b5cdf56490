"""A grid: long one `quantity` per grid line the price falls through, short one per line it rises through.

Lines are `spacing` apart around `center` (the first price seen when not configured), at most `levels`
lines each way.

**With the paper matching engine** (`ZVT_PAPER_ENGINE`, the runner sets `engine`) the grid rests GTC limit
orders on its lines: every line but one, the *gap* (at first the line at or below the first price, within
the grid), holds an order, buys below the gap and sells above it, one `quantity` each. When a buy fills
completely the gap moves down to its line, so the line it left (one spacing above the fill) gets a sell:
the opposite order is re-placed; a sell filled moves the gap up and re-places a buy one line below. After
each complete fill the grid compares what rests with what the gap calls for: it cancels what it no longer
wants and places what is missing. An order that ends unfilled (refused by risk, canceled, expired) is not
placed again until a fill moves the gap (no storm of refused orders). The grid starts flat, whatever the
price: its position is its fills.

**Without the engine** orders cannot rest (the order stage fills immediate-or-cancel), so the grid trades
market orders as the price crosses its lines, toward -`level` x `quantity`, as it always did.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from pydantic import Field

from schemas import PriceUpdated, StrategyOrderUpdate
from schemas.primitives import Price, Quantity, Side
from strategies.base import (
    CancelIntent,
    Intent,
    OrderIntent,
    OwnOrder,
    OwnOrders,
    Params,
    Strategy,
    TargetState,
    register,
)


class GridParams(Params):
    spacing: Price  # price distance between lines
    levels: int = Field(gt=0)  # lines each side of the center
    quantity: Quantity  # traded per line crossed
    center: Price | None = None


class GridState(TargetState):
    center: Decimal | None = None
    level: int = 0  # lines above the center the last price was at (negative: below)
    # Resting (with the engine): the line without an order, or None before the first price. `position`
    # is then the fills' (what the strategy hears of its own orders), not what it asked for.
    gap: int | None = None


def line_key(side: Side, line: int) -> str:
    return f"{side.value}@{line}"


def parse_key(key: str | None) -> tuple[Side, int] | None:
    """The side and line of a grid order's key (None: not one of the grid's keys)."""
    side, at, line = (key or "").partition("@")
    if not at or side not in (Side.BUY.value, Side.SELL.value):
        return None
    try:
        return Side(side), int(line)
    except ValueError:
        return None


@register
class Grid(Strategy[GridParams, GridState]):
    kind = "grid"
    params_model = GridParams
    state_model = GridState

    def level_of(self, price: Decimal, center: Decimal) -> int:
        """The grid line at or below `price`, counted from the center and capped at `levels`."""
        raw = int(((price - center) / self.params.spacing).to_integral_value(rounding=ROUND_FLOOR))
        return max(-self.params.levels, min(self.params.levels, raw))

    def on_price(self, state: GridState, price: PriceUpdated) -> tuple[GridState, list[OrderIntent]]:
        center = state.center or self.params.center or price.price
        level = self.level_of(price.price, center)
        position, intents = state.toward(-level * self.params.quantity)
        return GridState(center=center, level=level, position=position), intents

    # --- resting on the engine's book ------------------------------------------------------------------

    @property
    def hears_orders(self) -> bool:
        return self.engine  # without the engine it trades market orders on prices alone

    def on_tick(
        self, state: GridState, price: PriceUpdated, orders: OwnOrders
    ) -> tuple[GridState, list[Intent]]:
        if not self.engine:
            return super().on_tick(state, price, orders)
        if state.gap is not None:
            return state, []  # the book works for the grid; it acts on its fills
        center = state.center or self.params.center or price.price
        gap = self.level_of(price.price, center)
        state = state.model_copy(update={"center": center, "gap": gap, "level": gap})
        return state, self.reconcile(state, orders)

    def on_fill(
        self, state: GridState, order: OwnOrder, update: StrategyOrderUpdate, orders: OwnOrders, at: datetime
    ) -> tuple[GridState, list[Intent]]:
        position = state.position + update.fill_quantity * order.side.sign
        state = state.model_copy(update={"position": position})
        line = parse_key(order.key)
        if not self.engine or state.gap is None or line is None or order.remaining > 0:
            return state, []
        _, filled_at = line
        # Filled through the line: the gap moves there. Two lines filled at one market time are applied
        # one after the other; the gap moves to the farther one (a buy's lower line, a sell's higher).
        gap = min(state.gap, filled_at) if order.side is Side.BUY else max(state.gap, filled_at)
        state = state.model_copy(update={"gap": gap, "level": gap})
        return state, self.reconcile(state, orders)

    def wanted(self, gap: int) -> set[tuple[Side, int]]:
        """The orders the gap calls for: a buy on every line below it, a sell on every line above."""
        levels = self.params.levels
        buys = {(Side.BUY, line) for line in range(-levels, gap)}
        return buys | {(Side.SELL, line) for line in range(gap + 1, levels + 1)}

    def reconcile(self, state: GridState, orders: OwnOrders) -> list[Intent]:
        """Cancels of the open orders the gap no longer calls for (and of copies on one line), then the
        missing orders, lowest line first."""
        assert state.gap is not None
        assert state.center is not None
        wanted = self.wanted(state.gap)
        present: set[tuple[Side, int]] = set()
        intents: list[Intent] = []
        for order in sorted(orders.values(), key=lambda o: o.order_id):
            if order.cancel_requested:
                continue
            held = parse_key(order.key)
            if held is not None and held in wanted and held not in present:
                present.add(held)
            else:
                intents.append(CancelIntent(order_id=order.order_id))
        for side, line in sorted(wanted - present, key=lambda pair: pair[1]):
            intents.append(
                OrderIntent(
                    side=side,
                    quantity=self.params.quantity,
                    limit_price=state.center + line * self.params.spacing,
                    key=line_key(side, line),
                )
            )
        return intents
