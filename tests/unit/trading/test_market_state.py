"""The market data agent's pure derivation: prices and books from ticks, and state rebuilt from the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from schemas import OrderBookUpdated, PriceUpdated, QuoteTick, TradeTick
from trading.market_state import VenueMarket, derive, state_from

D = Decimal
T0 = datetime(2024, 8, 8, tzinfo=UTC)


def quote(bid: str, ask: str, second: int = 0, size: str = "1") -> QuoteTick:
    return QuoteTick(
        venue="binance", symbol="BTC/USDT", bid_price=D(bid), bid_size=D(size), ask_price=D(ask),
        ask_size=D(size), market_time=T0 + timedelta(seconds=second),
    )  # fmt: skip


def trade(price: str, second: int = 0) -> TradeTick:
    return TradeTick(
        venue="binance", symbol="BTC/USDT", trade_id=f"t{second}", price=D(price), quantity=D("0.1"),
        market_time=T0 + timedelta(seconds=second),
    )  # fmt: skip


def test_mid_before_the_first_trade_then_the_last_trade_and_books_numbered_by_offset() -> None:
    state, first = derive(VenueMarket(), quote("100", "102"), sequence=7)
    book, price = first
    assert isinstance(book, OrderBookUpdated)
    assert (book.sequence, book.bids[0].price, book.asks[0].price) == (7, D(100), D(102))
    assert isinstance(price, PriceUpdated)
    assert price.price == D(101)
    state, (traded,) = derive(state, trade("102", 1), sequence=8)
    assert isinstance(traded, PriceUpdated)
    assert (traded.price, traded.bid_price, traded.ask_price) == (D(102), D(100), D(102))
    state, (_, after) = derive(state, quote("101", "103", 2), sequence=9)
    assert isinstance(after, PriceUpdated)
    assert after.price == D(102)  # still the last trade's


def test_an_unchanged_top_says_nothing() -> None:
    state, _ = derive(VenueMarket(), quote("100", "102"), sequence=1)
    assert derive(state, quote("100", "102", 1), sequence=2) == (state, [])


ticks = st.lists(
    st.one_of(
        st.builds(lambda p, s: trade(str(p), s), st.integers(90, 110), st.integers(0, 50)),
        st.builds(lambda b, s: quote(str(b), str(b + 1), s), st.integers(90, 110), st.integers(0, 50)),
    ),
    max_size=40,
)


@given(before=ticks, after=ticks)
def test_state_rebuilt_from_the_last_trade_and_quote_derives_what_the_uninterrupted_state_does(
    before: list[TradeTick | QuoteTick], after: list[TradeTick | QuoteTick]
) -> None:
    """A worker taking the partition over after `before` (rebuilding from the log) publishes, for the
    ticks `after`, exactly what a worker that read everything publishes."""
    state = VenueMarket()
    for offset, tick in enumerate(before):
        state, _ = derive(state, tick, offset)
    last_trade = next((t for t in reversed(before) if isinstance(t, TradeTick)), None)
    last_quote = next((t for t in reversed(before) if isinstance(t, QuoteTick)), None)
    rebuilt = state_from(last_trade, last_quote)
    assert rebuilt == state
    for offset, tick in enumerate(after, start=len(before)):
        state, events = derive(state, tick, offset)
        rebuilt, again = derive(rebuilt, tick, offset)
        assert [e.model_dump(exclude={"timestamp"}) for e in again] == [
            e.model_dump(exclude={"timestamp"}) for e in events
        ]  # the same events, made at another wall-clock time
