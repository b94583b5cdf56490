"""Market data agent: ticks in, the latest price and book top per venue and symbol out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agents.app import app, faust_topic
from agents.consumer import consume, publish
from agents.market_view import market_view
from schemas import BookLevel, Event, OrderBookUpdated, PriceUpdated, QuoteTick, TradeTick
from schemas.primitives import Price
from topics import Topics
from trading.ids import derived_id


class VenueMarket(BaseModel):
    """What the agent remembers per venue and symbol."""

    model_config = ConfigDict(frozen=True)

    last_trade: Price | None = None
    bid: BookLevel | None = None
    ask: BookLevel | None = None
    sequence: int = 0


# Process memory, not a table: everything here is also in the agent's own outputs (the last price and
# book per venue and symbol), so a worker taking over a symbol seeds it from its market view instead of
# paying a changelog write per tick.
markets: dict[str, VenueMarket] = {}


def seeded(venue: str, symbol: str) -> VenueMarket:
    """The state of a venue and symbol this worker has not seen yet, from what the agent last published."""
    price = market_view.venue_prices.get((venue, symbol))
    top = market_view.book(venue, symbol)
    return VenueMarket(
        # A published price that is not the book's mid came from a trade.
        last_trade=price.price if price is not None and (top is None or top.mid != price.price) else None,
        bid=BookLevel(price=top.bid_price, size=top.bid_size) if top and top.bid_price else None,
        ask=BookLevel(price=top.ask_price, size=top.ask_size) if top and top.ask_price else None,
        sequence=market_view.book_sequences.get((venue, symbol), 0),
    )


def derive(state: VenueMarket, tick: TradeTick | QuoteTick) -> tuple[VenueMarket, list[Event]]:
    """The new state and what changed: a price on every trade or new top, a book on every new top."""
    events: list[Event] = []
    if isinstance(tick, TradeTick):
        state = state.model_copy(update={"last_trade": tick.price})
    else:
        bid = BookLevel(price=tick.bid_price, size=tick.bid_size)
        ask = BookLevel(price=tick.ask_price, size=tick.ask_size)
        if (bid, ask) == (state.bid, state.ask):
            return state, events
        state = state.model_copy(update={"bid": bid, "ask": ask, "sequence": state.sequence + 1})
        events.append(
            tick.caused(
                OrderBookUpdated,
                event_id=derived_id(tick.event_id, "book"),
                venue=tick.venue,
                symbol=tick.symbol,
                bids=(bid,) if bid.size > 0 else (),
                asks=(ask,) if ask.size > 0 else (),
                sequence=state.sequence,
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


async def _on_tick(event: Event) -> None:
    assert isinstance(event, TradeTick | QuoteTick)
    key = f"{event.venue}:{event.symbol}"
    state = markets.get(key) or seeded(event.venue, event.symbol)
    state, events = derive(state, event)
    # Prices are latest-value data: no need to wait for each acknowledgement (ids are deterministic anyway).
    await publish(events, durable=False)
    markets[key] = state


@app.agent(faust_topic(Topics.MARKET_TICKS), name="market_data")
async def track_market(stream: object) -> None:
    await consume(
        stream,  # type: ignore[arg-type]
        "market_data",
        {Topics.MARKET_TICKS: (TradeTick, QuoteTick)},
        _on_tick,
        before_first=market_view.wait_caught_up,
    )
