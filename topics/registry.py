"""The one registry of Kafka topics and Redis streams: every name used anywhere in the code is here.

Topic names are dotted, past-tense for events (`orders.executed`); each input topic names its dead-letter
topic. Keys keep order where it matters: everything about an account's orders on one partition, all
market data of one symbol on one partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from schemas import (
    AccountLimitsSet,
    AlertTriggered,
    AmendPaperOrder,
    CancelPaperOrder,
    Event,
    ExchangeRouted,
    KillSwitchSet,
    OrderAccepted,
    OrderAmended,
    OrderAmendRejected,
    OrderAmendRequested,
    OrderBookUpdated,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderCreated,
    OrderExecuted,
    OrderExpired,
    OrderRejected,
    OrderRequested,
    OrdersDecidedThrough,
    OrderTriggered,
    OrderValidated,
    PaperOrdersThrough,
    PaperOutcomesThrough,
    PaperRiskOutcome,
    PaperRiskOutcomesThrough,
    PortfolioRebalanced,
    PositionUpdated,
    PricesThrough,
    PriceUpdated,
    QuoteTick,
    RiskBreached,
    StrategyHaltSet,
    StrategyOrderUpdate,
    SubmitPaperOrder,
    TradeTick,
)

DAY_MS: Final = 24 * 60 * 60 * 1000
FOREVER: Final = -1  # retention.ms of a topic whose every record is kept
DEAD_LETTER_SUFFIX: Final = ".dead-letter"
PUBLISHED_IDS_SUFFIX: Final = ".published-ids"


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class KafkaTopic:
    """A Kafka topic: its name (before the deployment prefix), layout, key, schema and retention."""

    name: str
    partitions: int
    key_fields: tuple[str, ...]
    value_types: tuple[type[Event], ...]
    description: str
    cleanup: Cleanup = Cleanup.DELETE
    retention_ms: int | None = 7 * DAY_MS
    has_dead_letter: bool = True
    # Types sent to each partition explicitly, one copy per partition naming it (field `partition`), keyed
    # by `symbol`: a progress mark every consumer partition must read in sequence with its other records.
    broadcast: tuple[type[Event], ...] = ()

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    @property
    def dead_letter(self) -> KafkaTopic | None:
        if not self.has_dead_letter:
            return None
        return KafkaTopic(
            name=self.name + DEAD_LETTER_SUFFIX,
            partitions=1,
            key_fields=(),
            value_types=(),
            description=f"Unprocessable messages from {self.name}, with the reason and raw bytes.",
            retention_ms=30 * DAY_MS,
            has_dead_letter=False,
        )

    def key_for(self, event: Event) -> bytes:
        """The partitioning key of `event` on this topic (e.g. b'acct-1' or b'BTC/USDT')."""
        if type(event) not in self.value_types:
            raise TypeError(f"{event.event_type} does not belong on topic {self.name}")
        if type(event) in self.broadcast:
            return str(vars(event)["symbol"]).encode()  # a field the type has (test_registry), not Event
        return ":".join(str(getattr(event, name)) for name in self.key_fields).encode()

    def partition_of(self, event: Event) -> int | None:
        """The partition a broadcast copy names; None: the one its key hashes to."""
        if type(event) in self.broadcast:
            partition = int(vars(event)["partition"])
            if not 0 <= partition < self.partitions:
                raise ValueError(f"{event.event_type} for partition {partition} of {self.name}")
            return partition
        return None

    def config(self) -> dict[str, str]:
        config = {"cleanup.policy": self.cleanup.value}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config


@dataclass(frozen=True)
class RedisStream:
    """A Redis stream between the workflows and the agents, trimmed to about `max_length` entries.

    The bridge's routes are defined here and nowhere else: `from_topics` are Kafka topics the bridge copies
    into this stream, `to_topic` the Kafka topic it copies this stream's entries into.
    """

    name: str
    value_types: tuple[type[Event], ...]
    description: str
    max_length: int = 100_000
    from_topics: tuple[KafkaTopic, ...] = ()
    to_topic: KafkaTopic | None = None

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    def dead_letter_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}{DEAD_LETTER_SUFFIX}"

    def published_ids_name(self, prefix: str = "") -> str:
        """The sorted set of recently published event ids, which makes publishing idempotent."""
        return f"{prefix}{self.name}{PUBLISHED_IDS_SUFFIX}"


class Topics:
    """Kafka topics by role. Attribute access is the only way code refers to a topic."""

    MARKET_TICKS = KafkaTopic(
        "market.ticks",
        6,
        ("symbol",),
        (TradeTick, QuoteTick),
        "Trades and top-of-book quotes from every venue; input of the market data agent.",
        retention_ms=DAY_MS,
    )
    PRICES = KafkaTopic(
        "market.prices",
        6,
        ("symbol",),
        (PriceUpdated, PricesThrough),
        "Latest price per venue and symbol, derived by the market data agent (with the paper engine, also "
        "how far it has derived a symbol's prices when a batch's last tick moved none).",
        retention_ms=DAY_MS,
    )
    ORDER_BOOKS = KafkaTopic(
        "market.orderbooks",
        6,
        ("venue", "symbol"),
        (OrderBookUpdated,),
        "Book tops per venue and symbol; compacted, so a new consumer reads the latest book of each.",
        cleanup=Cleanup.COMPACT,
        retention_ms=None,
    )
    ORDERS_REQUESTED = KafkaTopic(
        "orders.requested",
        6,
        ("account_id",),
        (OrderRequested, OrdersDecidedThrough),
        "Orders asked for by strategies, workflows and people; input of the order stage. With the paper "
        "engine, also the strategies' progress per symbol, a copy to each partition after its orders.",
        broadcast=(OrdersDecidedThrough,),
    )
    ORDERS_VALIDATED = KafkaTopic(
        "orders.validated",
        6,
        ("account_id",),
        (OrderValidated,),
        "Orders the order stage's risk check accepted (routed in the same pass).",
    )
    ORDERS_REJECTED = KafkaTopic(
        "orders.rejected",
        6,
        ("account_id",),
        (OrderRejected,),
        "Orders refused (by risk, routing or a venue), with a machine-readable reason (terminal).",
    )
    ORDERS_ROUTED = KafkaTopic(
        "orders.routed",
        6,
        ("account_id",),
        (ExchangeRouted,),
        "Routing decisions with every candidate venue's score; input of the live execution stage.",
    )
    ORDERS_CREATED = KafkaTopic(
        "orders.created",
        6,
        ("account_id",),
        (OrderCreated,),
        "Orders (or legs) accepted by a venue.",
    )
    ORDERS_EXECUTED = KafkaTopic(
        "orders.executed",
        6,
        ("account_id",),
        (OrderExecuted,),
        "Fills, partial and final; input of the portfolio agent.",
    )
    ORDERS_ACCEPTED = KafkaTopic(
        "orders.accepted",
        6,
        ("account_id",),
        (OrderAccepted, OrderTriggered, OrderAmended),
        "Orders working on a venue's book: resting, their stop triggered, their terms amended.",
    )
    ORDERS_CANCELED = KafkaTopic(
        "orders.canceled",
        6,
        ("account_id",),
        (OrderCanceled, OrderExpired),
        "Orders ended with a remainder unfilled: canceled (on request, IOC remainder) or expired (terminal).",
    )
    ORDER_CHANGES_REQUESTED = KafkaTopic(
        "orders.changes.requested",
        6,
        ("account_id",),
        (OrderCancelRequested, OrderAmendRequested),
        "Cancel and amend requests from strategies, workflows and people, in the order they were made.",
    )
    ORDER_CHANGES_REJECTED = KafkaTopic(
        "orders.changes.rejected",
        6,
        ("account_id",),
        (OrderCancelRejected, OrderAmendRejected),
        "Cancels and amends that could not take effect (unknown order, already filled), with the reason.",
    )
    PAPER_COMMANDS = KafkaTopic(
        "paper.commands",
        6,  # as market.ticks: partition p of both goes to one paper venue stage member
        ("symbol",),
        (SubmitPaperOrder, CancelPaperOrder, AmendPaperOrder, PaperOrdersThrough),
        "Commands to the paper venue stage, keyed by symbol like market.ticks (co-partitioned): routed "
        "paper orders, forwarded cancels and amends, and each order stage partition's order watermark.",
    )
    PAPER_OUTCOMES = KafkaTopic(
        "paper.outcomes",
        6,  # as the order topics: partition q holds the outcomes of the accounts of the order stage's q
        ("account_id",),
        (PaperRiskOutcome, PaperRiskOutcomesThrough),
        "The paper engines' outcomes as the order stage's risk counts them, keyed by account, and after "
        "them the engines' outcome watermark per symbol, a copy to each partition (ZVT_PAPER_ENGINE).",
        broadcast=(PaperRiskOutcomesThrough,),
    )
    STRATEGY_ORDER_UPDATES = KafkaTopic(
        "strategies.order_updates",
        6,  # as market.prices: partition p of both goes to one strategies stage member
        ("symbol",),
        (StrategyOrderUpdate, PaperOutcomesThrough),
        "What happened to each strategy's orders (accepted, fills, cancels, expiries, rejections), "
        "copied from the order topics, keyed by symbol like market.prices (where strategies keep state); "
        "with the paper engine, its outcomes and after them its outcome watermark, from the paper venue "
        "stage.",
    )
    POSITIONS = KafkaTopic(
        "positions.updated",
        6,
        ("account_id",),
        (PositionUpdated,),
        "Positions and PnL per account and symbol after each fill or mark.",
    )
    RISK_BREACHES = KafkaTopic(
        "risk.breaches",
        3,
        ("account_id",),
        (RiskBreached,),
        "Exposure, drawdown and VaR limits crossed by live positions.",
    )
    REBALANCES = KafkaTopic(
        "portfolio.rebalances",
        3,
        ("account_id",),
        (PortfolioRebalanced,),
        "Outcomes of portfolio rebalances.",
    )
    ALERTS = KafkaTopic(
        "alerts",
        1,
        ("source",),
        (AlertTriggered,),
        "Alerts for people.",
        retention_ms=30 * DAY_MS,
    )
    CONTROL_COMMANDS = KafkaTopic(
        "control.commands",
        1,  # a handful a day: one partition keeps them in one order, which every worker replays alike
        ("scope",),
        (KillSwitchSet, StrategyHaltSet, AccountLimitsSet),
        "Runtime controls from operators (kill switches, strategy halts, limits), who and why; every "
        "agent worker reads all of it from the start, outside any group (agents/controls.py). Kept for ever: "
        "the current state is the fold of every command.",
        retention_ms=FOREVER,
    )

    @classmethod
    def all(cls) -> tuple[KafkaTopic, ...]:
        return tuple(value for value in vars(cls).values() if isinstance(value, KafkaTopic))

    @classmethod
    def with_dead_letters(cls) -> Iterator[KafkaTopic]:
        for topic in cls.all():
            yield topic
            if topic.dead_letter is not None:
                yield topic.dead_letter

    @classmethod
    def for_event(cls, event_type: type[Event]) -> KafkaTopic:
        """The topic an event type is published to (each type lives on exactly one topic)."""
        matches = [topic for topic in cls.all() if event_type in topic.value_types]
        if len(matches) != 1:
            raise LookupError(f"{event_type.__name__} is carried by {len(matches)} topics, expected 1")
        return matches[0]


# The agent workers' consumer group (after the deployment prefix), and every topic its agents read: what a
# caller watches to know the pipeline has drained (tests/unit/topics checks the list against the agents).
AGENTS_GROUP = "zvt-agents"
# The bridge's Kafka consumer group (prefixed; also the Redis consumer group of every route) and the event
# store sink's (its consumer name in the offsets table): named here for topics.acls too.
BRIDGE_GROUP = "zvt.bridge"
SINK_CONSUMER = "zvt.eventstore.sink"
AGENT_INPUTS = (
    Topics.MARKET_TICKS,
    Topics.PRICES,
    Topics.ORDERS_REQUESTED,
    Topics.ORDERS_EXECUTED,
    Topics.POSITIONS,
)
# Read as well where live venues are configured: routed orders (live execution) and what comes back of
# them (the order stage executes paper orders itself and reads neither).
LIVE_AGENT_INPUTS = (Topics.ORDERS_ROUTED, Topics.ORDERS_REJECTED)
# Read as well where the paper matching engine is on (`ZVT_PAPER_ENGINE`, docs/order-lifecycle.md): the
# paper venue stage's commands (it reads market.ticks too, already above), what the engine decided of
# resting orders, which the order stage applies to the accounts' risk state, and the cancels and amends
# it forwards to the engine.
PAPER_AGENT_INPUTS = (
    Topics.PAPER_COMMANDS,
    Topics.PAPER_OUTCOMES,
    Topics.ORDERS_ACCEPTED,
    Topics.ORDERS_REJECTED,
    Topics.ORDERS_CANCELED,
    Topics.ORDER_CHANGES_REQUESTED,
)
# Within one consumer group a partition goes to one member and has one committed offset, so a topic two
# stages read is read by one of them in a group of its own, `<agents group>.<stage>`: the portfolio
# (orders.executed, which the order stage reads too with live venues or the paper engine) and the paper
# venue stage (market.ticks, which the market data stage reads). Every other stage is in the agents' group.
OWN_GROUPS: dict[str, tuple[KafkaTopic, ...]] = {
    "portfolio": (Topics.ORDERS_EXECUTED,),
    "paper_venue": (Topics.MARKET_TICKS, Topics.PAPER_COMMANDS),
    # the outcomes of the strategies' orders, which the order stage reads too with the engine
    "strategy_updates": (
        Topics.ORDERS_EXECUTED,
        Topics.ORDERS_ACCEPTED,
        Topics.ORDERS_CANCELED,
        Topics.ORDERS_REJECTED,
    ),
}


def stage_group(stage: str) -> str:
    """The consumer group (after the deployment prefix) stage `stage` consumes in."""
    return f"{AGENTS_GROUP}.{stage}" if stage in OWN_GROUPS else AGENTS_GROUP


def agent_groups(
    paper_engine: bool = False, strategies_hear: bool = False
) -> list[tuple[str, tuple[KafkaTopic, ...]]]:
    """Each consumer group of the agents with the topics it reads: the pipeline has drained when every
    group has committed past the end of its topics (`zvt session`)."""
    own = {topic for topics in OWN_GROUPS.values() for topic in topics}
    shared = [topic for topic in AGENT_INPUTS if topic not in own or topic is Topics.MARKET_TICKS]
    groups = [(AGENTS_GROUP, tuple(shared)), (stage_group("portfolio"), OWN_GROUPS["portfolio"])]
    if paper_engine:  # the order stage reads what the engines decide; the paper venue stage its inputs
        outcomes = (
            Topics.ORDERS_EXECUTED,
            Topics.ORDERS_ACCEPTED,
            Topics.ORDERS_REJECTED,
            Topics.ORDERS_CANCELED,
        )
        groups[0] = (
            AGENTS_GROUP,
            (*groups[0][1], *outcomes, Topics.ORDER_CHANGES_REQUESTED, Topics.PAPER_OUTCOMES),
        )
        groups.append((stage_group("paper_venue"), OWN_GROUPS["paper_venue"]))
    if strategies_hear:  # the strategies' own orders, relayed to them by symbol (agents/strategies.py)
        groups[0] = (AGENTS_GROUP, (*groups[0][1], Topics.STRATEGY_ORDER_UPDATES))
        groups.append((stage_group("strategy_updates"), OWN_GROUPS["strategy_updates"]))
    return groups


# Read as well where strategies are configured: the outcomes of the strategies' orders, which the
# `strategy_updates` stage copies, keyed by symbol, to the strategies stage (agents/strategies.py).
STRATEGY_AGENT_INPUTS = (
    Topics.ORDERS_ACCEPTED,
    Topics.ORDERS_CANCELED,
    Topics.ORDERS_REJECTED,
    Topics.STRATEGY_ORDER_UPDATES,
)
# The sources of the order watermark on paper.commands: one per order stage partition (an account's
# orders all come from its partition).
ORDER_WATERMARK_SOURCES = tuple(f"orders.{p}" for p in range(Topics.ORDERS_REQUESTED.partitions))


def _changelog(stage: str, what: str) -> KafkaTopic:
    return KafkaTopic(
        f"{AGENTS_GROUP}.{stage}.changelog",
        6,
        (),
        (),
        f"State of the {stage} stage: {what}, each key's last record with its input offsets (compacted).",
        cleanup=Cleanup.COMPACT,
        retention_ms=None,
        has_dead_letter=False,
    )


class StateChangelogs:
    """The agent stages' state, one compacted changelog per stateful stage, partitioned like its inputs
    (a stage's state for partition p is in partition p), read back when a worker is assigned p."""

    ORDERS = _changelog("orders", "risk state per account")
    LIVE_EXECUTION = _changelog("live_execution", "routed orders sent to live venues, per account")
    PORTFOLIO = _changelog("portfolio", "position per account and symbol")
    RISK_MONITOR = _changelog("risk_monitor", "exposure, PnL peak and breaches per account")
    STRATEGIES = _changelog("strategies", "each strategy's state per symbol")
    PAPER_VENUE = _changelog("paper_venue", "the paper matching engines of each symbol")

    @classmethod
    def all(cls) -> tuple[KafkaTopic, ...]:
        return tuple(value for value in vars(cls).values() if isinstance(value, KafkaTopic))


class Streams:
    """Redis streams between Hatchet workflows and the Faust agents (bridged to and from Kafka)."""

    ORDER_REQUESTS = RedisStream(
        "zvt.orders.requested",
        (OrderRequested,),
        "Orders placed by workflows, forwarded into Kafka's orders.requested by the bridge.",
        to_topic=Topics.ORDERS_REQUESTED,
    )
    REBALANCES = RedisStream(
        "zvt.portfolio.rebalances",
        (PortfolioRebalanced,),
        "Outcomes of the rebalance workflow, forwarded into Kafka's portfolio.rebalances.",
        to_topic=Topics.REBALANCES,
    )
    MONITOR_BREACHES = RedisStream(
        "zvt.monitor.breaches",
        (RiskBreached,),
        "Breaches found by the risk monitor workflow, forwarded into Kafka's risk.breaches.",
        to_topic=Topics.RISK_BREACHES,
    )
    MONITOR_ALERTS = RedisStream(
        "zvt.monitor.alerts",
        (AlertTriggered,),
        "Alerts raised by the risk monitor workflow, forwarded into Kafka's alerts.",
        to_topic=Topics.ALERTS,
    )
    ORDER_ROUTES = RedisStream(
        "zvt.orders.routed",
        (ExchangeRouted,),
        "Routing decisions forwarded from Kafka, awaited by the place_order workflow's route_exchange stage.",
        from_topics=(Topics.ORDERS_ROUTED,),
    )
    ORDER_EXECUTIONS = RedisStream(
        "zvt.orders.executed",
        (OrderExecuted, OrderRejected, OrderCanceled, OrderExpired),
        "Fills, rejections, cancels and expiries forwarded from Kafka, awaited by the place_order workflow "
        "(an order ends with one of them).",
        from_topics=(Topics.ORDERS_EXECUTED, Topics.ORDERS_REJECTED, Topics.ORDERS_CANCELED),
    )
    RISK_BREACHES = RedisStream(
        "zvt.risk.breaches",
        (RiskBreached,),
        "Risk breaches forwarded from Kafka; may trigger a rebalance workflow.",
        from_topics=(Topics.RISK_BREACHES,),
    )

    ALERTS = RedisStream(
        "zvt.alerts",
        (AlertTriggered,),
        "Alerts forwarded from Kafka for notifiers and dashboards.",
        max_length=10_000,
        from_topics=(Topics.ALERTS,),
    )

    @classmethod
    def all(cls) -> tuple[RedisStream, ...]:
        return tuple(value for value in vars(cls).values() if isinstance(value, RedisStream))
