"""Order stage: risk -> routing -> paper execution of each order request, in one pass.

Every order topic is keyed by account, so one stage can take an account's request through all three steps
while it holds the account's risk state, and still publishes every intermediate event to its own topic with
the ids the separate agents gave them (order.validated, exchange.routed, order.created, order.executed,
or order.rejected at the step that refused): the event store, the bridge, `zvt trace` and the metrics see
what they always saw. A paper fill is applied to the account's risk state in the same pass, so the next
request is judged with it, however fast the requests come: what a replay decides depends on its data only.

Orders routed to a live venue are not executed here (a slow exchange must not stall the accounts behind
it): the live execution stage takes them from orders.routed, and their fills and rejections come back to
this stage on orders.executed and orders.rejected (read only when live venues are configured).

With `ZVT_PAPER_ENGINE=true`, a GTC limit order (post-only among them) or a stop routed to paper venues
is not filled here: it goes as one leg to the paper venue stage (`paper.commands`, with this partition's
order watermark), and its acceptance, amends, fills, rejection, cancel or expiry come back on
orders.accepted, orders.executed, orders.rejected and orders.canceled: the account's risk state counts
each as of its market time (`AccountRiskState.learn`: for the checks of orders decided after it). Its
cancels and amends (orders.changes.requested) go to the same engine; those of any other order are
answered here (`unknown_order`, or how it ended when it ended recently). Market, IOC and FOK orders are
filled here as before. The strategies' progress (`orders.decided_through`, read in sequence with this
partition's orders) is forwarded as this partition's order watermark (`paper.orders_through`), held
before any parked order.

Risk checks each request against the account's configured limits with the runtime controls applied (the
kill switches and limits an operator set on `control.commands`, which every worker reads whole:
agents/controls.py); the stage starts only once it has read every command there is.

An order decided on market data (it has a market time) waits until this worker's market view holds the
market of that time — the price it was decided on, and the books it meets on arrival — at most
`market_settle_seconds`; while it waits it is parked, with every later event of its account, and the stage
goes on with the other accounts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from agents.context import catalog, venue_health, venues
from agents.controls import control_view, wait_market_and_controls
from agents.market_view import market_view
from agents.settings import get_agent_settings, get_trading_config
from agents.stage import STAGES, Batch, Item, RecentKeys, Stage, register
from agents.waits import BoundedWaits
from schemas import (
    AmendPaperOrder,
    CancelPaperOrder,
    Event,
    ExchangeRouted,
    ModifyRejectReason,
    OrderAccepted,
    OrderAmended,
    OrderAmendRequested,
    OrderCanceled,
    OrderCancelRequested,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrdersDecidedThrough,
    OrderStatus,
    OrderTriggered,
    OrderValidated,
    PaperOrdersThrough,
    PaperRiskOutcome,
    PaperRiskOutcomesThrough,
    RejectReason,
    RouteLeg,
    SubmitPaperOrder,
)
from schemas.primitives import OrderType, TimeInForce
from topics import KafkaTopic, StateChangelogs, Topics
from topics.registry import ORDER_WATERMARK_SOURCES
from trading.circuit import CircuitState
from trading.execution import LegReport, execution_events
from trading.ids import derived_id
from trading.order_lifecycle import refusal
from trading.risk import AccountRiskState, Rejection, check_order, order_market_time, risk_outcome_time
from trading.routing import VenueCandidate, route
from venues.base import VenueOrder
from venues.paper import PaperVenue

log = logging.getLogger(__name__)


def used_order_key(account_id: str, order_id: str) -> str:
    return f"order:{account_id}:{order_id}"


def ended_key(account_id: str, order_id: str, reason: ModifyRejectReason) -> str:
    return f"ended:{account_id}:{order_id}:{reason}"


def _how_ended(event: Event) -> ModifyRejectReason | None:
    """What a cancel of the order is answered once `event` ended it (None: it did not end it)."""
    if isinstance(event, OrderExecuted):
        return {
            OrderStatus.FILLED: ModifyRejectReason.ALREADY_FILLED,
            OrderStatus.CANCELED: ModifyRejectReason.ALREADY_CANCELED,  # an IOC's fill and remainder at once
        }.get(event.status)
    if isinstance(event, OrderCanceled):
        return ModifyRejectReason.ALREADY_CANCELED
    if isinstance(event, OrderExpired):
        return ModifyRejectReason.ALREADY_EXPIRED
    if isinstance(event, OrderRejected):
        return ModifyRejectReason.ALREADY_REJECTED
    return None


def _window_keys(event: Event) -> Iterable[str]:
    """Order ids count as used once their request was applied: the duplicate order rule reads them from
    the partition's window (rebuilt on assignment), not from a list in every account's state. Likewise
    how an order ended, so that a late cancel of it is answered with the reason (`ended_reason`)."""
    if isinstance(event, OrderRequested):
        return (used_order_key(event.account_id, event.order_id),)
    reason = _how_ended(event)
    if reason is not None:
        assert isinstance(event, OrderExecuted | OrderCanceled | OrderExpired | OrderRejected)
        return (ended_key(event.account_id, event.order_id, reason),)
    return ()


_ENDED_ON = (Topics.ORDERS_EXECUTED, Topics.ORDERS_CANCELED, Topics.ORDERS_REJECTED)
_ENDED_ANSWERS = (
    ModifyRejectReason.ALREADY_FILLED,
    ModifyRejectReason.ALREADY_CANCELED,
    ModifyRejectReason.ALREADY_EXPIRED,
    ModifyRejectReason.ALREADY_REJECTED,
)


def ended_reason(
    windows: dict[tuple[str, int], RecentKeys], account_id: str, order_id: str, partition: int
) -> ModifyRejectReason | None:
    """How an order of this partition ended, if it ended recently: the outcomes' topics are keyed by
    account like the change requests, so partition p of them holds the outcomes of the accounts of p.
    Bounded by the stage's window (`dedupe_window` events per partition); older: None."""
    found = [windows[key] for topic in _ENDED_ON if (key := (topic.name, partition)) in windows]
    for reason in _ENDED_ANSWERS:
        if any(ended_key(account_id, order_id, reason) in window for window in found):
            return reason
    return None


class UsedOrderIds:
    """The order ids one account used recently, as the duplicate order rule asks for them."""

    def __init__(self, window: RecentKeys | None, account_id: str) -> None:
        self._window = window
        self._account_id = account_id

    def __contains__(self, order_id: object) -> bool:
        return self._window is not None and used_order_key(self._account_id, str(order_id)) in self._window


# --- waiting for the market of an order's time ---------------------------------------------------------

_parked_at: dict[str, float] = {}  # request event id -> when (monotonic) it was first parked


async def _forget_parked(assigned: object) -> None:
    """A rebalance drops the parked records (they are fetched again from the last commit): their clocks
    start again, and a worker that lost the partition keeps none of them."""
    _parked_at.clear()
    _outcomes_waiting.clear()


def _arrival(venue: str, at: datetime) -> datetime:
    found = venues().get(venue)
    return found.arrival_time(at) if isinstance(found, PaperVenue) else at


def market_settled(request: OrderRequested) -> bool:
    """Whether the view holds the market the order is judged and filled on: the price at its market time
    (risk), and the books of its venue, or of every venue quoting its symbol, on arrival (routing, fills)."""
    at = request.market_time
    if at is None:
        return True  # placed by hand: judged on the market the view holds
    if not market_view.has_price(request.symbol, at):
        return False
    listed = [rules.venue for rules in catalog().listings(request.symbol) if rules.active]
    quoting = [request.venue] if request.venue else [v for v in listed if market_view.book(v, request.symbol)]
    return bool(quoting) and all(
        market_view.has_book_since(v, request.symbol, _arrival(v, at)) for v in quoting
    )


def _market_feed_behind() -> bool:
    """Whether market data is still on its way through this worker (its market view, or its market data
    stage, has a backlog): an order waiting for the market of its time then waits on, however long."""
    if market_view.behind():
        return True
    return any(stage.name == "market_data" and stage.behind() for stage in STAGES)


_feed_behind_at = 0.0  # when the market feed was last seen behind (monotonic)


def _should_wait(request: OrderRequested) -> bool:
    """Park until the market of the order's time is in the view. The wait gives up after
    `market_settle_seconds` in which the feed had no backlog (a replay's end, a quiet venue: what the view
    holds is then all there is), or `market_settle_max_seconds` in all."""
    global _feed_behind_at
    key = str(request.event_id)
    if market_settled(request):
        _parked_at.pop(key, None)
        return False
    now = time.monotonic()
    first = _parked_at.setdefault(key, now)
    if _market_feed_behind():
        _feed_behind_at = now
    settings = get_agent_settings()
    quiet_for = now - max(first, _feed_behind_at)
    if quiet_for < settings.market_settle_seconds and now - first < settings.market_settle_max_seconds:
        return True
    del _parked_at[key]  # judged on what there is
    return False


# --- waiting for the engines' outcomes before an order's time ---------------------------------------------

# (partition, symbol) -> the engines' outcome watermark read on that partition of paper.outcomes (memory: a
# worker that takes the partition over waits for the next copy, at most `market_settle_max_seconds`).
_outcomes_through: dict[tuple[int, str], datetime] = {}
_outcomes_waiting = BoundedWaits()  # request event id -> since when it waits


def learn_outcomes_through(mark: PaperRiskOutcomesThrough, partition: int) -> None:
    """A copy of the engines' outcome watermark, read in sequence with the outcomes it covers."""
    if mark.partition != partition:
        raise ValueError(f"an outcome watermark for partition {mark.partition} read on partition {partition}")
    key = (partition, mark.symbol)
    known = _outcomes_through.get(key)
    if known is None or mark.through > known:
        _outcomes_through[key] = mark.through


def waits_for_outcomes(request: OrderRequested, state: AccountRiskState, partition: int) -> bool:
    """Whether risk must wait before judging `request`: an order decided at t (a strategy's, with a market
    time) is judged on every engine outcome before t of the account's resting orders' symbols, so it waits
    until their outcome watermark on this partition passes them; at most `market_settle_max_seconds` of
    wall clock (a lost watermark must not stall the account for ever: then judged on what came)."""
    if request.market_time is None:
        return False  # placed by hand: judged on what the state holds, as it comes
    marks = {symbol: at for (p, symbol), at in _outcomes_through.items() if p == partition}
    missing = bool(state.outcomes_missing(request.market_time, marks))
    if _outcomes_waiting.waits(str(request.event_id), missing) or not missing:
        return missing
    log.warning("order %s judged without the engines' outcomes before its time", request.order_id)
    return False


# --- the three steps -----------------------------------------------------------------------------------


def candidates_for(order: OrderValidated) -> list[VenueCandidate]:
    venues()  # configures each venue's health (a paper venue's simulated latency) on first use
    return [
        VenueCandidate(
            rules=rules,
            top=market_view.book_at(rules.venue, order.symbol, order_market_time(order)),
            latency_ms=venue_health[rules.venue].expected_latency_ms,
            healthy=venue_health[rules.venue].state() is not CircuitState.OPEN,
        )
        for rules in catalog().listings(order.symbol)
        if rules.active
    ]


def routing_event(order: OrderValidated) -> ExchangeRouted | OrderRejected:
    decision = route(order, candidates_for(order), get_trading_config().routing)
    if decision is None:
        return OrderRejected.for_order(
            order,
            RejectReason.VENUE_UNAVAILABLE,
            f"no healthy venue with a book for {order.symbol}",
            event_id=derived_id(order.event_id, "rejected"),
        )
    return order.caused(
        ExchangeRouted,
        event_id=derived_id(order.event_id, "routed"),
        **order.order_terms(),
        requested_at=order.requested_at,
        legs=decision.legs,
        candidates=decision.scores,
    )


def venue_order(routed: ExchangeRouted, index: int) -> VenueOrder:
    """Leg `index` as a venue order; its client order id `<order id>.<leg>` is the same on every retry."""
    return VenueOrder(
        client_order_id=f"{routed.order_id}.{index}",
        symbol=routed.symbol,
        side=routed.side,
        order_type=routed.order_type,
        quantity=routed.legs[index].quantity,
        limit_price=routed.limit_price,
        time_in_force=routed.time_in_force,
        market_time=order_market_time(routed),
    )


def _all_paper(routed: ExchangeRouted) -> bool:
    known = venues()
    return all(isinstance(known.get(leg.venue), PaperVenue) for leg in routed.legs)


def paper_reports(routed: ExchangeRouted) -> list[LegReport] | None:
    """What the paper venues did with every leg, or None if a leg goes to a live venue."""
    if not _all_paper(routed):
        return None
    known = venues()
    paper = [known.get(leg.venue) for leg in routed.legs]
    return [
        venue.fill(venue_order(routed, i)) for i, venue in enumerate(paper) if isinstance(venue, PaperVenue)
    ]


def rests_on_engine(order: OrderValidated | ExchangeRouted) -> bool:
    """Whether the paper matching engine executes the order (with `ZVT_PAPER_ENGINE`): a GTC limit order,
    post-only among them, may rest; a stop waits for its price. Market, IOC and FOK orders are filled in
    this stage's pass as before."""
    if order.order_type.is_stop:
        return True
    return order.order_type is OrderType.LIMIT and order.time_in_force is TimeInForce.GTC


def engine_only(order: ExchangeRouted) -> list[str]:
    """The instructions only the paper matching engine executes (risk lets them through with it on)."""
    return [
        name
        for name, present in (
            (f"{order.order_type} orders", order.order_type.is_stop),
            ("post_only", order.post_only),
            ("expire_at", order.expire_at is not None),
        )
        if present
    ]


def engine_commands(routed: ExchangeRouted) -> tuple[ExchangeRouted, SubmitPaperOrder]:
    """A resting order for the paper venue stage: routed to its best venue as one leg (the state machine
    is per order, not per leg), and the command. The order watermark is the strategies' progress this
    partition forwards (`forward_progress`), not the order's own time."""
    best = routed.legs[0]
    leg = RouteLeg(venue=best.venue, quantity=routed.quantity, expected_price=best.expected_price)
    one = routed.model_copy(update={"legs": (leg,)})
    command = routed.caused(
        SubmitPaperOrder,
        event_id=derived_id(routed.event_id, "paper"),
        **one.order_terms(),
        requested_at=one.requested_at,
        legs=one.legs,
        candidates=one.candidates,
    )
    return one, command


def handle_request(
    request: OrderRequested, state: AccountRiskState, used: UsedOrderIds
) -> tuple[AccountRiskState, list[Event]]:
    """Risk, then routing, then (paper venues) execution: the events and the account's state after them.
    With the paper matching engine on, a resting order goes to the paper venue stage instead; its outcome
    comes back on orders.executed / orders.rejected / orders.canceled."""
    engine = get_agent_settings().paper_engine
    # The configured limits with the runtime controls (kill switches, limits changed) this worker has read.
    limits = control_view.limits_for(request.account_id)
    # The order's symbol and the account's at reference prices, which one venue's outlier cannot move.
    symbols = {request.symbol, *state.positions, *(o.symbol for o in state.open_orders.values())}
    prices = market_view.risk_prices(symbols, request.market_time, order_market_time(request))
    decision = check_order(request, state, catalog(), prices, limits, used_order_ids=used, engine=engine)
    if isinstance(decision, Rejection):
        detail = decision.detail
        if decision.reason is RejectReason.KILL_SWITCH:  # who engaged it, and why, when it was at runtime
            detail = control_view.kill_switch_detail(request.account_id) or detail
        rejected = OrderRejected.for_order(
            request, decision.reason, detail, event_id=derived_id(request.event_id, "rejected")
        )
        return state, [rejected]
    price = decision.limit_price or prices.get(request.symbol)
    assert price is not None  # check_order refuses orders without a price
    state = state.accept(decision, price, timedelta(seconds=float(limits.rate_window_seconds)))
    routed = routing_event(decision)
    outputs: list[Event] = [decision, routed]
    if isinstance(routed, OrderRejected):
        return state.close_order(routed), outputs
    if engine and rests_on_engine(routed) and _all_paper(routed):
        one_leg, command = engine_commands(routed)
        # Open until its outcome comes back; its cancels and amends go to its venue's engine.
        state = state.on_venue(routed.order_id, one_leg.legs[0].venue)
        return state, [decision, one_leg, command]
    if engine and (named := engine_only(routed)):
        # Risk let it through for the engine; a live venue would execute it as a plain order (a taker).
        refused = OrderRejected.for_order(
            routed,
            RejectReason.UNSUPPORTED_ORDER,
            f"not executed on a live venue yet: {', '.join(named)}",
            event_id=derived_id(routed.event_id, "rejected"),
        )
        outputs.append(refused)
        return state.close_order(refused), outputs
    reports = paper_reports(routed)
    if reports is None:
        return state, outputs  # the live execution stage takes it from here
    for event in execution_events(routed, reports):
        outputs.append(event)
        state = _apply_outcome(state, event)
    return state, outputs


_REQUEST_ENVELOPE = {"event_id", "event_type", "version", "timestamp", "causation_id", "metadata"}


def forward_change(
    request: OrderCancelRequested | OrderAmendRequested,
    state: AccountRiskState,
    ended: ModifyRejectReason | None = None,
) -> list[Event]:
    """A cancel or amend of an order resting on a paper venue's engine, as a command to that engine; any
    other is answered here, never dropped: `ended` (how the order ended, from `ended_reason`) if it ended
    recently, else `unknown_order`."""
    order = state.open_orders.get(request.order_id)
    if order is None and ended is not None:
        return [refusal(request, ended, f"{request.order_id} of {request.account_id} has ended ({ended})")]
    if order is None or order.venue is None:
        detail = f"{request.order_id} is not working on a paper venue for {request.account_id}"
        return [refusal(request, ModifyRejectReason.UNKNOWN_ORDER, detail)]
    kind: type[CancelPaperOrder | AmendPaperOrder] = (
        CancelPaperOrder if isinstance(request, OrderCancelRequested) else AmendPaperOrder
    )
    command = kind(
        **request.model_dump(exclude=_REQUEST_ENVELOPE),
        event_id=derived_id(request.event_id, "paper"),
        causation_id=request.event_id,
        symbol=order.symbol,
        venue=order.venue,
    )
    return [command]


_JUST_BEFORE = timedelta(microseconds=1)


def forward_progress(
    mark: OrdersDecidedThrough, partition: int, parked: Iterable[Item]
) -> PaperOrdersThrough:
    """The strategies' progress on a symbol as this partition's order watermark for the paper venue
    stage: read in sequence with the partition's orders, so every order it covers was handled before it,
    except those still parked (waiting for the market of their time). Those have not been sent: the
    watermark stops just before the earliest of them (`held_at`), and the mark is parked to say the rest."""
    if mark.partition != partition:
        raise ValueError(f"a progress mark for partition {mark.partition} read on partition {partition}")
    through = min(mark.through, held_at(mark, parked) or mark.through)
    return mark.caused(
        PaperOrdersThrough,
        event_id=derived_id(mark.event_id, f"orders_through|{through.isoformat()}"),
        symbol=mark.symbol,
        source=ORDER_WATERMARK_SOURCES[partition],
        through=through,
    )


def held_at(mark: OrdersDecidedThrough, parked: Iterable[Item]) -> datetime | None:
    """Just before the earliest parked order of the mark's symbol decided at or before its time (a parked
    cancel or amend, whose symbol the account's state knows, holds every symbol); None if none is."""
    times = [
        at
        for item in parked
        if isinstance(event := item.event, OrderRequested | OrderCancelRequested | OrderAmendRequested)
        and getattr(event, "symbol", mark.symbol) == mark.symbol
        and (at := event.market_time) is not None
        and at <= mark.through
    ]
    return min(times) - _JUST_BEFORE if times else None


def _apply_outcome(state: AccountRiskState, event: Event) -> AccountRiskState:
    """What happened to an order, into the account's risk state: in force at once without a market time
    (this pass's immediate fills, a live venue's, rejections), for checks after it with one (the engine's
    fills, acceptances, amends, cancels, expiries: `AccountRiskState.learn`)."""
    return state.learn(event)


_OUTCOMES = (OrderExecuted, OrderRejected, OrderCanceled, OrderExpired, OrderAccepted, OrderAmended)
_ACCOUNT_INPUTS = (
    OrderRequested,
    *_OUTCOMES,
    OrderTriggered,
    OrderCancelRequested,
    OrderAmendRequested,
    PaperRiskOutcome,
)


def counted_from_paper_outcomes(event: Event) -> bool:
    """An engine outcome with a market time (a fill, acceptance, amend, cancel, expiry): risk counts it
    from its copy on paper.outcomes, in sequence with the outcome watermark, not from the order topics."""
    return get_agent_settings().paper_engine and risk_outcome_time(event) is not None


def _on_progress(item: Item, mark: OrdersDecidedThrough, batch: Batch[AccountRiskState]) -> None:
    lane = f"decided:{mark.symbol}"
    if batch.is_parked(lane) or batch.applied(item):
        if batch.is_parked(lane):
            batch.park(item, lane)  # the symbol's marks stay in order
        return
    mine = [parked for parked in batch.parked if parked.partition == item.partition]
    batch.publish([forward_progress(mark, item.partition, mine)])
    if held_at(mark, mine) is not None:
        batch.park(item, lane)  # forwarded again, in full, once the orders it covers are handled


def _on_order_event(item: Item, batch: Batch[AccountRiskState]) -> None:
    event = item.event
    if isinstance(event, OrdersDecidedThrough):
        _on_progress(item, event, batch)
        return
    if isinstance(event, PaperRiskOutcomesThrough):
        learn_outcomes_through(event, item.partition)  # the requests parked for it go on next batch
        return
    assert isinstance(event, _ACCOUNT_INPUTS)
    account = event.account_id
    if batch.is_parked(account):
        batch.park(item, account)  # an account's events stay in order
        return
    if batch.applied(item, account):
        return
    state = batch.get(item, account) or AccountRiskState()
    if isinstance(event, OrderRequested):
        if _should_wait(event) or waits_for_outcomes(event, state, item.partition):
            batch.park(item, account)
            return
        window = stage.windows.get((item.topic.name, item.partition))
        state, outputs = handle_request(event, state, UsedOrderIds(window, account))
        batch.publish(outputs)
    elif isinstance(event, OrderCancelRequested | OrderAmendRequested):
        ended = None
        if not state.knows(event.order_id):
            ended = ended_reason(stage.windows, account, event.order_id, item.partition)
        batch.publish(forward_change(event, state, ended))
    elif isinstance(event, PaperRiskOutcome):
        state = state.learn(event)  # pending until a check passes its time
    elif isinstance(event, _OUTCOMES) and counted_from_paper_outcomes(event):
        return  # its copy on paper.outcomes is what risk counts
    elif isinstance(event, _OUTCOMES) and (
        state.knows(event.order_id) or (isinstance(event, OrderExecuted) and event.market_time is not None)
    ):
        # A live venue's or the paper matching engine's fill, acceptance, amend, rejection, cancel or
        # expiry. Immediate paper outcomes were applied when they were made: their order is no longer open
        # when they come back. An engine fill counts even if its order's end was read first (they come on
        # different topics): the position must not lose it.
        state = _apply_outcome(state, event)
    else:
        return  # a copy of an immediate outcome, a stop's trigger (the order stays as it is)
    batch.put(item, account, state)


def _inputs() -> dict[KafkaTopic, tuple[type[Event], ...]]:
    inputs: dict[KafkaTopic, tuple[type[Event], ...]] = {Topics.ORDERS_REQUESTED: (OrderRequested,)}
    if get_agent_settings().paper_engine:  # and the strategies' progress, forwarded to the engine
        inputs[Topics.ORDERS_REQUESTED] = (OrderRequested, OrdersDecidedThrough)
    if get_trading_config().live_venues or get_agent_settings().paper_engine:
        inputs[Topics.ORDERS_EXECUTED] = (OrderExecuted,)
        inputs[Topics.ORDERS_REJECTED] = (OrderRejected,)
    if get_agent_settings().paper_engine:
        inputs[Topics.ORDERS_ACCEPTED] = (OrderAccepted, OrderTriggered, OrderAmended)
        inputs[Topics.ORDERS_CANCELED] = (OrderCanceled, OrderExpired)
        inputs[Topics.ORDER_CHANGES_REQUESTED] = (OrderCancelRequested, OrderAmendRequested)
        inputs[Topics.PAPER_OUTCOMES] = (PaperRiskOutcome, PaperRiskOutcomesThrough)
    return inputs


stage: Stage[AccountRiskState] = register(
    Stage(
        "orders",
        _inputs(),
        _on_order_event,
        state=AccountRiskState,
        changelog=StateChangelogs.ORDERS,
        window_keys=_window_keys,
        ready=wait_market_and_controls,
        on_assigned=_forget_parked,
    )
)
