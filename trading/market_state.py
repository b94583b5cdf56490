"""What the market data agent derives from ticks: the latest price and book top per venue and symbol.

The state of a venue and symbol after a tick is a function of the ticks before it alone: the last trade's
price and the last quote's top. So a worker that takes a partition over, or restarts behind its own
outputs, rebuilds it exactly from the tick log (`state_from`) and derives the same prices a worker that
never stopped would have. A book's sequence number is its tick's offset, for the same reason.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas import BookLevel, Event, OrderBookUpdated, PriceUpdated, QuoteTick, TradeTick
from schemas.primitives import Price
from trading.ids import derived_id


class VenueMarket(BaseModel):
    """The last trade and book top seen for one venue and symbol."""

    model_config = ConfigDict(frozen=True)

    last_trade: Price | None = None
    bid: BookLevel | None = None
    ask: BookLevel | None = None


def state_from(last_trade: TradeTick | None, last_quote: QuoteTick | None) -> VenueMarket:
    """The state after the last trade and the last quote of a venue and symbol."""
    return VenueMarket(
        last_trade=last_trade.price if last_trade else None,
        bid=BookLevel(price=last_quote.bid_price, size=last_quote.bid_size) if last_quote else None,
        ask=BookLevel(price=last_quote.ask_price, size=last_quote.ask_size) if last_quote else None,
    )


def derive(state: VenueMarket, tick: TradeTick | QuoteTick, sequence: int) -> tuple[VenueMarket, list[Event]]:
    """The new state and what changed: a price on every trade or new top, a book on every new top.

    The price is the last trade's, or the book's mid before the first trade; `sequence` (the tick's offset
    in its partition) numbers the book.
    """
    events: list[Event] = []
    if isinstance(tick, TradeTick):
        state = state.model_copy(update={"last_trade": tick.price})
    else:
        bid = BookLevel(price=tick.bid_price, size=tick.bid_size)
        ask = BookLevel(price=tick.ask_price, size=tick.ask_size)
        if (bid, ask) == (state.bid, state.ask):
            return state, events
        state = state.model_copy(update={"bid": bid, "ask": ask})
        events.append(
            tick.caused(
                OrderBookUpdated,
                event_id=derived_id(tick.event_id, "book"),
                venue=tick.venue,
                symbol=tick.symbol,
                bids=(bid,) if bid.size > 0 else (),
                asks=(ask,) if ask.size > 0 else (),
                sequence=sequence,
                market_time=tick.market_time,
            )
        )
    mid = (state.bid.price + state.ask.price) / 2 if state.bid and state.ask else None
    price = state.last_trade or mid
    if price is not None:
        events.append(
            tick.caused(
                PriceUpdated,
                event_id=derived_id(tick.event_id, "price"),
                venue=tick.venue,
                symbol=tick.symbol,
                price=price,
                bid_price=state.bid.price if state.bid else None,
                ask_price=state.ask.price if state.ask else None,
                market_time=tick.market_time,
            )
        )
    return state, events
