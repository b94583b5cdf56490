"""Market data events: what venues print (ticks, books) and what the market data agent derives (prices)."""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.base import Event
from schemas.primitives import NonNegativeQuantity, Price, Quantity, Side, Symbol, Venue


class TradeTick(Event):
    """One trade printed by a venue."""

    EVENT_TYPE = "trade.tick"

    venue: Venue
    symbol: Symbol
    trade_id: str = Field(min_length=1, max_length=64)
    price: Price
    quantity: Quantity
    aggressor_side: Side | None = None
    market_time: AwareDatetime


class QuoteTick(Event):
    """A venue's top of book (best bid and ask with their sizes)."""

    EVENT_TYPE = "quote.tick"

    venue: Venue
    symbol: Symbol
    bid_price: Price
    bid_size: NonNegativeQuantity
    ask_price: Price
    ask_size: NonNegativeQuantity
    market_time: AwareDatetime

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        if self.bid_price > self.ask_price:
            raise ValueError(f"bid_price {self.bid_price} is above ask_price {self.ask_price}")
        return self


class PriceUpdated(Event):
    """The latest price of a symbol on a venue, as the market data agent sees it."""

    EVENT_TYPE = "price.updated"

    venue: Venue
    symbol: Symbol
    price: Price
    bid_price: Price | None = None
    ask_price: Price | None = None
    market_time: AwareDatetime


class PricesThrough(Event):
    """The market data stage has derived every price of `symbol` from its ticks at or before
    `market_time`: sent when a batch's last tick of the symbol moved no price (an unchanged top, a
    quarantined tick), so the strategies' progress (`orders.decided_through`) passes ticks that decide
    nothing. Only with `ZVT_PAPER_ENGINE` (docs/order-lifecycle.md)."""

    EVENT_TYPE = "market.prices_through"

    symbol: Symbol
    market_time: AwareDatetime


class BookLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    price: Price
    size: NonNegativeQuantity


class OrderBookUpdated(Event):
    """A venue's book (top levels) after a change; each side best price first."""

    EVENT_TYPE = "orderbook.updated"

    venue: Venue
    symbol: Symbol
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    sequence: int = Field(ge=0)
    market_time: AwareDatetime

    @model_validator(mode="after")
    def _sorted_and_uncrossed(self) -> Self:
        if any(
            later.price >= earlier.price for later, earlier in zip(self.bids[1:], self.bids, strict=False)
        ):
            raise ValueError("bids must be strictly descending by price")
        if any(
            later.price <= earlier.price for later, earlier in zip(self.asks[1:], self.asks, strict=False)
        ):
            raise ValueError("asks must be strictly ascending by price")
        if self.bids and self.asks and self.bids[0].price > self.asks[0].price:
            raise ValueError(
                f"book is crossed: best bid {self.bids[0].price} > best ask {self.asks[0].price}"
            )
        return self
