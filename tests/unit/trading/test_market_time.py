"""The market-time merge: what is released when, in which order, and what counts as late."""

from __future__ import annotations

from tests.unit.trading.matching_builders import at
from trading.market_time import BEGINNING, JUST_BEFORE, MarketTimeMerger, Rank


def released(merger: MarketTimeMerger[str]) -> list[str]:
    return [item for _, item in merger.release()]


def test_a_command_waits_for_the_ticks_past_its_time_and_a_tick_for_the_commands_of_its_time() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    merger.add_tick(at(0), "tick 0")
    merger.add_command(at(50), Rank.SUBMIT, ("a", "o1"), "order at 50")
    assert released(merger) == []  # commands not known through 0 yet
    merger.commands_through(at(60))
    assert released(merger) == ["tick 0"]  # the order waits: a tick at 50 may still come
    merger.add_tick(at(50), "tick 50")
    assert released(merger) == ["tick 50"]  # ... and another at 50 still
    merger.add_tick(at(70), "tick 70")
    assert released(merger) == ["order at 50"]  # the tick at 70 waits for the commands through 70
    merger.commands_through(at(70))
    assert released(merger) == ["tick 70"]
    assert merger.late == 0


def test_equal_times_expiry_tick_order_amend_cancel() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    merger.add_command(at(5), Rank.CANCEL, ("a", "o1", "x"), "cancel")
    merger.add_command(at(5), Rank.SUBMIT, ("b", "o2", "y"), "order b")
    merger.add_command(at(5), Rank.SUBMIT, ("a", "o3", "z"), "order a")
    merger.add_command(at(5), Rank.AMEND, ("a", "o1", "w"), "amend")
    merger.add_command(at(5), Rank.EXPIRY, ("a", "o1"), "expiry")
    merger.add_tick(at(5), "tick")
    merger.end()
    assert released(merger) == ["expiry", "tick", "order a", "order b", "amend", "cancel"]


def test_a_quiet_venue_is_declared_and_a_wrong_watermark_is_counted() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    merger.add_command(at(50), Rank.SUBMIT, ("a", "o1"), "order")
    merger.commands_through(at(100))
    assert released(merger) == []
    merger.ticks_through(at(100))  # no tick came, none will before 100
    assert released(merger) == ["order"]
    merger.add_command(at(20), Rank.SUBMIT, ("a", "o2"), "late order")  # said complete through 100
    merger.add_tick(at(10), "late tick")
    assert merger.late == 2
    assert released(merger) == ["late tick", "late order"]  # both taken at 50, where a tick comes first
    assert merger.released_through == at(50)


def test_an_unsourced_command_is_taken_within_what_the_feed_has_reached_and_counted_apart() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    merger.add_tick(at(100), "tick 100")
    merger.commands_through(at(100))
    assert released(merger) == ["tick 100"]
    merger.add_command(at(10**9), Rank.SUBMIT, ("a", "o1"), "by hand, far ahead", unsourced=True)
    merger.add_command(at(0), Rank.SUBMIT, ("a", "o2"), "by hand, behind", unsourced=True)
    merger.add_command(at(100), Rank.SUBMIT, ("a", "o3"), "by hand, within", unsourced=True)
    merger.add_tick(at(200), "tick 200")
    merger.commands_through(at(200))
    assert released(merger) == ["by hand, far ahead", "by hand, behind", "by hand, within", "tick 200"]
    assert (merger.unsourced, merger.late) == (2, 0)  # two moved, none a wrong watermark
    merger.add_command(at(0), Rank.SUBMIT, ("a", "o4"), "decided before the time matched")
    assert merger.late == 1


def test_only_orders_amends_and_cancels_wait_for_a_quiet_release_not_expiries() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    merger.add_tick(at(0), "tick 0")
    merger.add_command(at(60_000), Rank.EXPIRY, ("a", "o1"), "expiry")
    merger.commands_through(at(100))
    assert released(merger) == ["tick 0"]
    assert merger.waiting_for_ticks() is None  # a good-till time says nothing of the market's time
    merger.add_command(at(50), Rank.SUBMIT, ("a", "o2"), "order at 50")
    merger.add_command(at(70), Rank.CANCEL, ("a", "o2", "c"), "cancel at 70")
    merger.add_command(at(150), Rank.SUBMIT, ("a", "o3"), "beyond the commands' watermark")
    assert merger.waiting_for_ticks() == at(70)
    merger.ticks_through(at(70))
    assert released(merger) == ["order at 50", "cancel at 70"]
    assert merger.waiting_for_ticks() is None


def test_complete_through_is_bounded_by_the_commands_the_ticks_and_what_is_pending() -> None:
    merger: MarketTimeMerger[str] = MarketTimeMerger()
    assert merger.complete_through() == BEGINNING  # nothing declared: nothing complete
    merger.commands_through(at(100))
    assert merger.complete_through(ticks_matter=False) == at(100)
    assert merger.complete_through() == BEGINNING  # no tick seen: a tick at any time may still come
    merger.add_tick(at(40), "tick 40")
    assert released(merger) == ["tick 40"]
    assert merger.complete_through() == at(40) - JUST_BEFORE  # another tick at 40 may still come
    assert merger.complete_through(ticks_fed=at(90)) == at(90)  # the caller's feed is further
    merger.add_command(at(60), Rank.SUBMIT, ("a", "o1"), "order at 60")
    merger.ticks_through(at(95))
    assert released(merger) == ["order at 60"]
    assert merger.complete_through() == at(95)
    merger.add_command(at(99), Rank.SUBMIT, ("a", "o2"), "order at 99")
    merger.add_tick(at(130), "tick 130")  # waits for the commands through 130
    assert released(merger) == ["order at 99"]
    assert merger.complete_through() == at(100)  # the commands' watermark
    merger.commands_through(at(200))
    assert merger.complete_through(ticks_matter=False) == at(130) - JUST_BEFORE  # the pending tick
    assert released(merger) == ["tick 130"]
    assert merger.complete_through() == at(130) - JUST_BEFORE
    assert merger.complete_through(ticks_matter=False) == at(200)
