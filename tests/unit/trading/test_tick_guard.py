"""The tick guard: which ticks may move a price (each quarantine reason), recovery after a real move, real
recorded data passing untouched, and the reference price one venue's outlier cannot move."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from marketreplay.readers import Tick
from schemas import QuoteTick, TradeTick
from trading.config import MarketClock, TickGuardConfig
from trading.tick_guard import (
    Quarantine,
    TickGuard,
    VenueMedian,
    VenueWindow,
    Verdict,
    median,
    reference_price,
)
from zvt.replay_market import replay_ticks

D = Decimal
T0 = datetime(2024, 8, 8, 23, 54, 14, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
LIVE = TickGuardConfig(clock=MarketClock.LIVE)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def trade(price: str, second: float = 0, venue: str = "binance", symbol: str = "BTC/USDT") -> TradeTick:
    return TradeTick(
        venue=venue, symbol=symbol, trade_id=f"t{second}", price=D(price), quantity=D("0.1"),
        market_time=at(second),
    )  # fmt: skip


def quote(
    bid: str, ask: str, second: float = 0, venue: str = "binance", when: datetime | None = None
) -> QuoteTick:
    return QuoteTick(
        venue=venue, symbol="BTC/USDT", bid_price=D(bid), bid_size=D(1), ask_price=D(ask), ask_size=D(1),
        market_time=when or at(second),
    )  # fmt: skip


REPLAY = TickGuardConfig()


def warmed(config: TickGuardConfig = REPLAY, venues: Iterable[str] = ("binance",)) -> TickGuard:
    """A guard that has seen 10 s of BTC/USDT near 60,000 on each of `venues`."""
    guard = TickGuard(config)
    for second in range(10):
        for venue in venues:
            assert (
                guard.judge(quote(f"{60000 + second}", f"{60001 + second}", second, venue), at(second))
                is None
            )
    return guard


def reason(verdict: Verdict | None) -> Quarantine | None:
    return verdict.reason if verdict is not None else None


# --- the poisoned tick -------------------------------------------------------------------------


POISON = quote("1.5", "1.5", when=datetime(2999, 1, 1, tzinfo=UTC))


def test_the_poisoned_tick_is_quarantined_on_either_clock_and_teaches_no_time() -> None:
    replay = warmed()
    verdict = replay.judge(POISON)
    assert reason(verdict) is Quarantine.PRICE_BAND_VENUE
    assert str(verdict).startswith("price_band_venue: 1.5 ")
    live = warmed(LIVE)
    assert reason(live.judge(POISON, at(10))) is Quarantine.FUTURE_TIME
    # Its year 2999 was not learnt: the next real tick (not "backwards" from 2999) is accepted on both.
    assert replay.judge(quote("60010", "60011", 10)) is None
    assert live.judge(quote("60010", "60011", 10), at(10)) is None


def test_the_poisoned_price_on_a_new_venue_meets_the_other_venues_band() -> None:
    guard = warmed(venues=("binance", "kraken"))
    assert reason(guard.judge(trade("1.5", 10, venue="evil"))) is Quarantine.PRICE_BAND_CROSS_VENUE


# --- one test per reason -------------------------------------------------------------------------------


def test_live_clock_refuses_the_far_future_and_the_stale_but_not_a_clock_a_little_ahead() -> None:
    guard = TickGuard(LIVE)
    now = at(0)
    assert reason(guard.judge(trade("60000", 11), now)) is Quarantine.FUTURE_TIME
    assert reason(guard.judge(trade("60000", -301), now)) is Quarantine.STALE_TIME
    assert guard.judge(trade("60000", 9), now) is None  # within max_future_seconds (10)
    assert guard.judge(trade("60000", 9), now + timedelta(seconds=299)) is None


def test_replay_clock_ignores_the_wall_clock_a_replay_is_judged_on_market_time_alone() -> None:
    ticks = [trade(f"{60000 + i}", i) for i in range(20)]
    for now in (None, at(0), datetime(2030, 1, 1, tzinfo=UTC)):
        guard = TickGuard(TickGuardConfig())
        assert [guard.judge(t, now) for t in ticks] == [None] * 20


def test_market_time_going_back_per_venue_and_symbol() -> None:
    guard = warmed(venues=("binance", "kraken"))
    assert reason(guard.judge(trade("60009", 8))) is Quarantine.TIME_BACKWARDS
    assert guard.judge(trade("60009", 9)) is None  # equal times are fine
    assert guard.judge(trade("3000", 1, symbol="ETH/USDT")) is None  # another symbol has its own clock
    tolerant = warmed(TickGuardConfig(backwards_tolerance_seconds=D(2)))
    assert tolerant.judge(trade("60009", 8)) is None
    assert reason(tolerant.judge(trade("60009", 6))) is Quarantine.TIME_BACKWARDS


def test_price_band_around_the_venue_checks_trades_and_both_sides_of_a_quote() -> None:
    guard = warmed()
    assert reason(guard.judge(trade("66700", 10))) is Quarantine.PRICE_BAND_VENUE  # +11%
    assert guard.judge(trade("65000", 10)) is None  # +8%: a fast market, not a bad print
    assert reason(guard.judge(quote("60000", "70000", 10))) is Quarantine.PRICE_BAND_VENUE  # mid +8%, ask not


def test_cross_venue_band_tolerates_real_spreads_and_skips_venues_quiet_for_a_minute() -> None:
    guard = warmed(venues=("binance", "kraken"))
    assert guard.judge(trade("60100", 10, venue="okx")) is None  # a 0.15% spread between venues
    assert reason(guard.judge(trade("53000", 10, venue="okx"))) is Quarantine.PRICE_BAND_CROSS_VENUE
    # Recordings of other days are not compared: binance and kraken were last seen 2 minutes earlier.
    assert guard.judge(trade("40000", 130, venue="bitstamp")) is None


def test_books_and_prices_no_market_shows() -> None:
    guard = warmed()
    crossed_fields = quote("60005", "60010", 10).model_dump() | {"bid_price": D(60010), "ask_price": D(60005)}
    crossed = QuoteTick.model_construct(**crossed_fields)  # the schema refuses it; the guard does too
    assert reason(guard.judge(crossed)) is Quarantine.CROSSED_BOOK
    for bad in (D(0), D(-1), D("NaN"), D("Infinity")):
        tick = TradeTick.model_construct(**(trade("1", 10).model_dump() | {"price": bad}))
        assert reason(guard.judge(tick)) is Quarantine.NON_POSITIVE_PRICE, bad
    assert reason(guard.judge(trade("1e999999", 10))) is Quarantine.PRICE_OUT_OF_RANGE
    assert reason(TickGuard(TickGuardConfig()).judge(trade("1e-20"))) is Quarantine.PRICE_OUT_OF_RANGE


# --- recovery and the first ticks ----------------------------------------------------------------------


def test_a_real_move_past_the_band_is_accepted_once_it_lasted_half_a_window() -> None:
    guard = warmed()
    verdicts = [guard.judge(trade("70000", 10 + i)) for i in range(40)]
    refused = [v for v in verdicts if v is not None]
    assert {v.reason for v in refused} == {Quarantine.PRICE_BAND_VENUE}
    assert len(refused) <= TickGuardConfig().window // 2 + 1
    assert verdicts[-1] is None


def test_one_outlier_among_a_window_of_good_prints_moves_nothing() -> None:
    guard = warmed()
    assert reason(guard.judge(trade("1.5", 10))) is Quarantine.PRICE_BAND_VENUE
    assert reason(guard.judge(trade("1.6", 10))) is Quarantine.PRICE_BAND_VENUE
    assert guard.judge(trade("60010", 10)) is None


def test_a_new_venue_with_nothing_to_compare_is_accepted_and_judged_from_its_third_price() -> None:
    guard = TickGuard(TickGuardConfig())
    assert guard.judge(trade("60000", 0)) is None
    assert guard.judge(trade("60001", 1)) is None
    assert guard.judge(trade("60002", 2)) is None
    assert reason(guard.judge(trade("90000", 3))) is Quarantine.PRICE_BAND_VENUE


# --- real recorded data --------------------------------------------------------------------------------


def judged(ticks: Iterable[Tick]) -> tuple[int, list[tuple[Tick, Verdict]]]:
    """Every tick through one guard per symbol (a partition holds all venues of a symbol)."""
    guards: dict[str, TickGuard] = {}
    count, refused = 0, []
    for tick in ticks:
        guard = guards.get(tick.symbol)
        if guard is None:
            guard = guards[tick.symbol] = TickGuard(TickGuardConfig())
        count += 1
        verdict = guard.judge(tick)
        if verdict is not None:
            refused.append((tick, verdict))
    return count, refused


def test_the_recorded_sample_sessions_pass_without_a_single_quarantine() -> None:
    """The binance minute `zvt session` replays (trades and book tickers of BTC/USDT and ETH/USDT), and
    kraken's 1,000 BTC/USDT trades."""
    files = [*sorted(SAMPLE.glob("binance_spot_*_2024*.csv")), SAMPLE / "kraken_xbtusdt_trades_20251110.csv"]
    count, refused = judged(replay_ticks(files))
    assert count == 13941
    assert refused == []


def test_the_whole_sample_quarantines_only_half_a_window_where_a_recording_jumps_3_years() -> None:
    """binance BTC/USDT from 2021 (about 39,500) straight into 2024 (61,800) in one replay: a move past any
    band, accepted after half a window."""
    count, refused = judged(replay_ticks(sorted([*SAMPLE.glob("*.csv"), *SAMPLE.glob("*.parquet")])))
    assert count == 16413
    assert {(t.venue, t.symbol, v.reason) for t, v in refused} == {
        ("binance", "BTC/USDT", Quarantine.PRICE_BAND_VENUE)
    }
    assert len(refused) == TickGuardConfig().window // 2 + 1
    assert all(t.market_time.year == 2024 for t, _ in refused)


# --- the reference price -------------------------------------------------------------------------------


MINUTE = timedelta(seconds=60)


def medians(*prices: tuple[str, str, float]) -> list[VenueMedian]:
    """Each venue's latest rolling median (over its last 32 prices) of (venue, price, second), oldest
    first: what the view holds as of the order."""
    windows: dict[str, VenueWindow] = {}
    latest: dict[str, VenueMedian] = {}
    for venue, price, second in prices:
        window = windows.setdefault(venue, VenueWindow(venue, 32))
        window.push(D(price))
        latest[venue] = VenueMedian(at(second), window.median())
    return list(latest.values())


def test_reference_is_the_median_over_venues_of_each_venues_median() -> None:
    found = [("binance", "60000", 1), ("binance", "60010", 2), ("kraken", "60100", 3), ("okx", "59990", 4)]
    assert reference_price(medians(*found), MINUTE) == D(60005)
    assert median([D(1), D(3)]) == D(2)


def test_reference_is_not_moved_by_one_venues_outlier_nor_by_one_outlier_tick() -> None:
    venues = [("binance", "60000", 1), ("kraken", "60100", 2), ("evil", "1.5", 3)]
    assert reference_price(medians(*venues), MINUTE) == D(60000)
    ticks = [("binance", str(60000 + i), i) for i in range(9)] + [("binance", "1.5", 9)]
    assert reference_price(medians(*ticks), MINUTE) == D("60003.5")  # 60000..60008 alone: 60004


def test_reference_window_and_absence() -> None:
    assert reference_price([], MINUTE) is None
    quiet_and_busy = medians(("kraken", "40000", 0), ("binance", "60000", 100))
    assert reference_price(quiet_and_busy, MINUTE) == D(60000)  # kraken quiet for 100 s: left out
    assert reference_price(quiet_and_busy, MINUTE, not_before=at(101)) is None  # live: too old
    assert reference_price(quiet_and_busy, MINUTE, not_before=at(40)) == D(60000)


@pytest.mark.parametrize("window", [1, 2, 5, 32])
def test_venue_window_median_equals_a_sorted_median(window: int) -> None:
    recent = VenueWindow("binance", window)
    values = [D(v) for v in (5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 10, 0)]
    for i, value in enumerate(values):
        recent.push(value)
        assert recent.median() == median(values[max(0, i + 1 - window) : i + 1])


def test_live_a_tick_just_inside_the_future_skew_does_not_shut_out_the_next_real_ones() -> None:
    guard = TickGuard(LIVE)
    now = at(0)
    assert guard.judge(trade("60000", 9), now) is None  # a venue clock 9 s ahead: within the skew
    assert guard.judge(trade("60001", 0.001), now) is None  # the next real tick, at the wall clock
    assert reason(guard.judge(trade("60001", -1), now)) is Quarantine.TIME_BACKWARDS
