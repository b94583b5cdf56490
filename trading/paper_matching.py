"""The paper matching engine of one venue and symbol, deterministic in market time.

Orders, cancels and amends reach the book at their market time plus the venue's latency, merged with the
venue's ticks by market time (`trading.market_time`): the same ticks and orders give the same events
whatever order they arrived in. The rules (docs/order-lifecycle.md):

- On arrival an order takes from the book in force (its top, or every L2 level it shows) within its limit,
  at the book's prices, paying the taker fee. A book older than `max_book_age` is no book: an order that
  cannot rest is refused `stale_book`, one that can rests without taking. FOK takes all or nothing;
  post-only is refused `post_only_would_take` if it would take; IOC and market orders cancel what the book
  did not give; GTC limit orders rest with the remainder.
- A resting order fills, at its own limit price and paying the maker fee, when a later trade trades
  through its price (at it too with `fill_at_touch`) or a later book shows the other side at or through it.
  Better-priced orders first, then the earlier; what one takes of a trade or a level, the next cannot.
- A stop triggers on the first tick after its arrival whose trade price (or the side of the book it would
  take, for `trigger_source=quote`) reaches the stop price; it then arrives as a market or limit order at
  that tick's time (a venue-held stop: no second latency).
- Good-till orders expire at `expire_at` (before any tick of that time); a cancel or amend reaching the
  book at the time of a tick comes after it, so a fill at that tick wins the race.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from schemas import (
    CancelReason,
    Event,
    ExchangeRouted,
    ModifyRejectReason,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderValidated,
    QuoteTick,
    RejectReason,
    TradeTick,
)
from schemas.primitives import Liquidity, Side, TimeInForce, TriggerSource
from trading.config import PaperSettings
from trading.market_time import BEGINNING, END_OF_TIME, Key, MarketTimeMerger, Rank
from trading.markets import MarketRules
from trading.order_lifecycle import OrderLifecycle, Transition, refusal
from trading.paper_book import PaperBook, Take
from trading.risk import order_market_time

ZERO: Final = Decimal(0)
Tick = TradeTick | QuoteTick | OrderBookUpdated
OrderKey = tuple[str, str]  # account id, order id


@dataclass(frozen=True)
class MatchingSettings:
    latency: timedelta = timedelta(milliseconds=50)
    max_book_age: timedelta | None = timedelta(seconds=10)  # None: any book, however old
    fill_at_touch: bool = False  # a trade at exactly a resting order's price fills it (first in the queue)
    terminal_orders_kept: int = 10_000  # ended orders remembered to answer a late cancel with the reason

    @classmethod
    def from_paper(cls, paper: PaperSettings) -> MatchingSettings:
        return cls(
            latency=timedelta(milliseconds=float(paper.latency_ms)),
            max_book_age=timedelta(seconds=float(paper.max_book_age_seconds)),
        )


@dataclass(frozen=True, slots=True)
class _Expiry:
    order: OrderKey


_Input = OrderLifecycle | OrderCancelRequested | OrderAmendRequested | _Expiry | Tick


def fee(quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """In quote currency; a negative rate (a maker rebate) counts as no fee (fills carry no negative fee)."""
    return max(quantity * price * rate, ZERO)


class PaperMatchingEngine:
    """Feed it ticks and orders in any interleaving, tell it how far each has come, collect the events."""

    def __init__(self, rules: MarketRules, settings: MatchingSettings = MatchingSettings()) -> None:
        self.rules = rules
        self.venue = rules.venue
        self.settings = settings
        self.book = PaperBook()
        self.last_trade: Decimal | None = None
        self._merger: MarketTimeMerger[_Input] = MarketTimeMerger()
        self._orders: dict[OrderKey, OrderLifecycle] = {}  # not yet ended
        self._ended: OrderedDict[OrderKey, OrderLifecycle] = OrderedDict()  # the latest ones, for answers
        self._working: dict[OrderKey, Key] = {}  # orders on the book, with their time priority
        self._events: list[Event] = []

    # --- input --------------------------------------------------------------------------------------------

    def submit(self, order: OrderValidated | ExchangeRouted, *, sourced: bool = True) -> None:
        """An order for this venue (a routed order: the sum of its legs here) as risk passed it.
        `sourced=False`: no watermark covers its source (placed by hand); taken within what the feed has
        reached (`MarketTimeMerger.add_command`)."""
        lifecycle = OrderLifecycle.validated(order, self.venue)
        if isinstance(order, ExchangeRouted):
            quantity = sum((leg.quantity for leg in order.legs if leg.venue == self.venue), ZERO)
            if quantity <= 0:
                raise ValueError(f"{order.order_id} has no leg on {self.venue}")
            lifecycle = replace(lifecycle, terms=replace(lifecycle.terms, quantity=quantity))
        at = order_market_time(order) + self.settings.latency
        tie = self._tie(order.account_id, order.order_id, order)
        self._merger.add_command(at, Rank.SUBMIT, tie, lifecycle, unsourced=not sourced)

    def request_cancel(self, request: OrderCancelRequested, *, sourced: bool = True) -> None:
        at = (request.market_time or request.timestamp) + self.settings.latency
        tie = self._tie(request.account_id, request.order_id, request)
        self._merger.add_command(at, Rank.CANCEL, tie, request, unsourced=not sourced)

    def request_amend(self, request: OrderAmendRequested, *, sourced: bool = True) -> None:
        at = (request.market_time or request.timestamp) + self.settings.latency
        tie = self._tie(request.account_id, request.order_id, request)
        self._merger.add_command(at, Rank.AMEND, tie, request, unsourced=not sourced)

    def add_tick(self, tick: Tick) -> None:
        if tick.venue != self.venue or tick.symbol != self.rules.symbol:
            raise ValueError(
                f"{tick.venue} {tick.symbol} tick fed to the {self.venue} {self.rules.symbol} engine"
            )
        self._merger.add_tick(tick.market_time, tick)

    def orders_through(self, market_time: datetime) -> None:
        """No order, cancel or amend decided at or before `market_time` will come any more: none reaches
        the book before `market_time` + latency, so a tick up to then is released (END_OF_TIME: no
        source declares a watermark, nothing is waited for)."""
        latency = self.settings.latency
        self._merger.commands_through(
            END_OF_TIME if market_time >= END_OF_TIME - latency else market_time + latency
        )

    def ticks_through(self, market_time: datetime) -> None:
        """Every tick at or before `market_time` has been fed (a quiet venue)."""
        self._merger.ticks_through(market_time)

    def outcomes_through(self, ticks_fed: datetime = BEGINNING) -> datetime:
        """The outcome watermark: every event of market time at or before it has been made (returned by
        `run`), and no later input can make another. Ticks bound it only while an order is live (a tick
        changes nothing else); `ticks_fed`: how far the caller knows the ticks complete."""
        return self._merger.complete_through(ticks_matter=bool(self._orders), ticks_fed=ticks_fed)

    @property
    def has_had_orders(self) -> bool:
        """Whether an order was ever sent here (working, ended and remembered, or on its way in the merge):
        an account's risk may then wait for this engine's outcome watermark."""
        return bool(self._orders or self._ended) or self._merger.pending_commands() > 0

    def waiting_for_ticks(self) -> datetime | None:
        """How far the ticks must be declared for the commands waiting only for them (a quiet venue)."""
        return self._merger.waiting_for_ticks()

    # --- output -------------------------------------------------------------------------------------------

    def run(self) -> list[Event]:
        """Match everything the watermarks release; the events in the order they happened."""
        for key, item in self._merger.release():
            self._handle(key.time, item)
        events, self._events = self._events, []
        return events

    def end(self) -> list[Event]:
        """The end of the data: release everything (working orders stay working)."""
        self._merger.end()
        return self.run()

    def order(self, account_id: str, order_id: str) -> OrderLifecycle | None:
        key = (account_id, order_id)
        return self._orders.get(key) or self._ended.get(key)

    def working_orders(self) -> list[OrderLifecycle]:
        return [self._orders[key] for key in self._working]

    @property
    def late_inputs(self) -> int:
        """Inputs that came after their market time was matched: a watermark was wrong."""
        return self._merger.late

    @property
    def unsourced_inputs(self) -> int:
        """Commands without a watermark (placed by hand) taken at another time than their own."""
        return self._merger.unsourced

    @property
    def pending_inputs(self) -> int:
        return self._merger.pending()

    # --- dispatch -----------------------------------------------------------------------------------------

    def _handle(self, at: datetime, item: _Input) -> None:
        match item:
            case OrderLifecycle():
                self._arrive(item, at)
            case OrderCancelRequested():
                self._cancel(item, at)
            case OrderAmendRequested():
                self._amend(item, at)
            case _Expiry():
                order = self._orders.get(item.order)
                if order is not None and order.is_working:
                    self._record(order.expire())
            case TradeTick():
                self.last_trade = item.price
                self._fill_resting_by_trade(item, at)
                self._trigger_stops(TriggerSource.TRADE, at)
            case QuoteTick():
                self.book.update([(item.bid_price, item.bid_size)], [(item.ask_price, item.ask_size)], at)
                self._fill_resting_by_book(at)
                self._trigger_stops(TriggerSource.QUOTE, at)
            case OrderBookUpdated():
                bids = [(level.price, level.size) for level in item.bids]
                self.book.update(bids, [(level.price, level.size) for level in item.asks], at)
                self._fill_resting_by_book(at)
                self._trigger_stops(TriggerSource.QUOTE, at)

    def _record(self, transition: Transition) -> OrderLifecycle:
        order = transition.order
        key = (order.terms.account_id, order.terms.order_id)
        self._events.append(transition.event)
        if order.is_terminal:
            self._orders.pop(key, None)
            self._working.pop(key, None)
            self._ended[key] = order
            while len(self._ended) > self.settings.terminal_orders_kept:
                self._ended.popitem(last=False)
        else:
            self._orders[key] = order
        return order

    # --- arrival ------------------------------------------------------------------------------------------

    def _arrive(self, order: OrderLifecycle, at: datetime) -> None:
        key = (order.terms.account_id, order.terms.order_id)
        if key in self._orders or key in self._ended:
            self._events.append(
                order.reject(RejectReason.DUPLICATE_ORDER, f"{key[1]} is already on {self.venue}").event
            )
            return
        terms = order.terms
        if terms.expire_at is not None and terms.expire_at <= at:
            self._record(order.expire())
            return
        if terms.order_type.is_stop:
            self._rest(order, at, f"waits for a {terms.trigger_source} at {terms.stop_price}")
            return
        fresh = self.book.is_fresh(at, self.settings.max_book_age)
        if terms.post_only:
            if fresh and self.book.would_take(terms.side, terms.limit_price):
                self._record(order.reject(RejectReason.POST_ONLY_WOULD_TAKE, self._top_text(terms.side, at)))
            else:
                self._rest(order, at, f"rests at {terms.limit_price}")
            return
        self._take(order, at, accepted=False)

    def _rest(
        self, order: OrderLifecycle, at: datetime, detail: str, resting: Decimal | None = None
    ) -> OrderLifecycle:
        order = self._record(
            order.accept(self.venue, self._venue_order_id(order), resting or order.remaining, at, detail)
        )
        key = (order.terms.account_id, order.terms.order_id)
        self._working[key] = Key(at, Rank.SUBMIT, key)
        if order.terms.expire_at is not None:
            self._merger.add_command(order.terms.expire_at, Rank.EXPIRY, key, _Expiry(key))
        return order

    def _take(self, order: OrderLifecycle, at: datetime, *, accepted: bool) -> None:
        """An order taking liquidity at `at` (on arrival, or a stop just triggered): fills at the book's
        prices, then the remainder rests (GTC limit), is canceled or, if nothing filled, refused."""
        terms = order.terms
        rests = terms.order_type.has_limit and terms.time_in_force is TimeInForce.GTC
        if not self.book.is_fresh(at, self.settings.max_book_age):
            if rests:
                if not accepted:
                    self._rest(
                        order, at, f"{self._no_book_text(at)}: rests at {terms.limit_price} without taking"
                    )
                return
            stale = self.book.market_time is not None
            self._end_unfilled(order, at, accepted, stale=stale, detail=self._no_book_text(at))
            return
        if terms.time_in_force is TimeInForce.FOK:
            available = self.book.available_within(terms.side, terms.limit_price)
            if available < order.remaining:
                detail = f"FOK: {available} within the limit, {order.remaining} asked"
                self._end_unfilled(order, at, accepted, stale=False, detail=detail)
                return
        takes = self.book.take(terms.side, order.remaining, terms.limit_price)
        taken = sum((take.quantity for take in takes), ZERO)
        if not takes:
            if rests:
                if not accepted:
                    self._rest(order, at, f"rests at {terms.limit_price}: {self._top_text(terms.side, at)}")
                return
            self._end_unfilled(order, at, accepted, stale=False, detail=self._top_text(terms.side, at))
            return
        if rests and not accepted and taken < order.remaining:
            order = self._rest(
                order,
                at,
                f"{taken} taken on arrival, {order.remaining - taken} rests",
                order.remaining - taken,
            )
        for take in takes:
            order = self._fill(order, take, Liquidity.TAKER, at)
        if not rests and order.remaining > 0:
            self._record(
                order.cancel(
                    CancelReason.UNFILLED_REMAINDER, f"the book gave {taken} of {terms.quantity}", at
                )
            )

    def _end_unfilled(
        self, order: OrderLifecycle, at: datetime, accepted: bool, *, stale: bool, detail: str
    ) -> None:
        """Nothing filled: refused on arrival; canceled once accepted (a stop that triggered into no book)."""
        if accepted:
            reason = CancelReason.STALE_BOOK if stale else CancelReason.NO_LIQUIDITY
            self._record(order.cancel(reason, detail, at))
        else:
            self._record(
                order.reject(RejectReason.STALE_BOOK if stale else RejectReason.NO_LIQUIDITY, detail)
            )

    def _fill(self, order: OrderLifecycle, take: Take, liquidity: Liquidity, at: datetime) -> OrderLifecycle:
        rate = self.rules.maker_fee if liquidity is Liquidity.MAKER else self.rules.taker_fee
        return self._record(
            order.fill(
                self.venue,
                take.quantity,
                take.price,
                fee(take.quantity, take.price, rate),
                self.rules.quote,
                liquidity,
                at,
            )
        )

    # --- resting orders meet the market -------------------------------------------------------------------

    def _resting(self, side: Side) -> list[OrderLifecycle]:
        """Working limit orders of `side` (triggered stop-limits too), best price first, then the oldest."""
        sign = -1 if side is Side.BUY else 1
        ranked = []
        for key, arrived in self._working.items():
            order = self._orders[key]
            limit = order.terms.limit_price
            if order.terms.side is side and limit is not None and not order.waits_for_trigger:
                ranked.append((sign * limit, arrived, order))
        ranked.sort(key=lambda entry: (entry[0], entry[1]))
        return [order for _, _, order in ranked]

    def _fill_resting_by_trade(self, trade: TradeTick, at: datetime) -> None:
        for side in Side:
            left = trade.quantity
            for order in self._resting(side):
                limit = order.terms.limit_price
                assert limit is not None
                through = trade.price < limit if side is Side.BUY else trade.price > limit
                if not (through or (self.settings.fill_at_touch and trade.price == limit)):
                    break  # sorted best first: no later order is reached either
                size = min(left, order.remaining)
                self._fill(order, Take(limit, size), Liquidity.MAKER, at)
                left -= size
                if left <= 0:
                    break

    def _fill_resting_by_book(self, at: datetime) -> None:
        for side in Side:
            for order in self._resting(side):
                takes = self.book.take(side, order.remaining, order.terms.limit_price)
                if not takes:
                    break
                limit = order.terms.limit_price
                assert limit is not None
                self._fill(order, Take(limit, sum((t.quantity for t in takes), ZERO)), Liquidity.MAKER, at)

    def _trigger_stops(self, source: TriggerSource, at: datetime) -> None:
        waiting = [
            (arrived, self._orders[key])
            for key, arrived in self._working.items()
            if self._orders[key].waits_for_trigger and self._orders[key].terms.trigger_source is source
        ]
        waiting.sort(key=lambda pair: pair[0])
        for _, order in waiting:
            price = self._trigger_price(order, source)
            stop = order.terms.stop_price
            assert stop is not None
            if price is None or (price < stop if order.terms.side is Side.BUY else price > stop):
                continue
            order = self._record(order.trigger(self.venue, price, at))
            self._take(order, at, accepted=True)

    def _trigger_price(self, order: OrderLifecycle, source: TriggerSource) -> Decimal | None:
        if source is TriggerSource.TRADE:
            return self.last_trade
        levels = self.book.opposite(order.terms.side)
        return levels[0].price if levels else None

    # --- cancels and amends -------------------------------------------------------------------------------

    def _known(
        self, request: OrderCancelRequested | OrderAmendRequested, at: datetime
    ) -> OrderLifecycle | None:
        order = self.order(request.account_id, request.order_id)
        if order is None:
            detail = f"{request.order_id} is not on {self.venue} at {at.isoformat()}"
            self._events.append(refusal(request, ModifyRejectReason.UNKNOWN_ORDER, detail))
        return order

    def _cancel(self, request: OrderCancelRequested, at: datetime) -> None:
        order = self._known(request, at)
        if order is not None:
            self._record_answer(order.answer_cancel(request, at))

    def _amend(self, request: OrderAmendRequested, at: datetime) -> None:
        order = self._known(request, at)
        if order is None:
            return
        new_limit = request.limit_price or order.terms.limit_price
        if (
            order.is_working
            and order.terms.post_only
            and self.book.is_fresh(at, self.settings.max_book_age)
            and self.book.would_take(order.terms.side, new_limit)
        ):
            detail = self._top_text(order.terms.side, at)
            self._events.append(refusal(request, ModifyRejectReason.POST_ONLY_WOULD_TAKE, detail))
            return
        answer = order.answer_amend(request, at)
        self._record_answer(answer)
        if isinstance(answer.event, OrderAmended) and not answer.order.waits_for_trigger:
            self._take(answer.order, at, accepted=True)  # an amended price may cross the book now

    def _record_answer(self, transition: Transition) -> None:
        if isinstance(transition.event, OrderCancelRejected | OrderAmendRejected):
            self._events.append(transition.event)  # the order goes on as it was
        else:
            self._record(transition)

    # --- words --------------------------------------------------------------------------------------------

    def _tie(self, account_id: str, order_id: str, event: Event) -> tuple[str, ...]:
        return (account_id, order_id, str(event.event_id))

    def _venue_order_id(self, order: OrderLifecycle) -> str:
        return f"paper-{self.venue}-{order.terms.order_id}"[:128]

    def _top_text(self, side: Side, at: datetime) -> str:
        levels = self.book.opposite(side)
        shown = f"{levels[0].available} at {levels[0].price}" if levels else "nothing"
        return f"the book showed {shown} on the {'ask' if side is Side.BUY else 'bid'} at {at.isoformat()}"

    def _no_book_text(self, at: datetime) -> str:
        if self.book.market_time is None:
            return f"no book on {self.venue} at {at.isoformat()}"
        age = (at - self.book.market_time).total_seconds()
        return f"the {self.venue} book is {age:g}s old at {at.isoformat()} (max {self.settings.max_book_age})"
