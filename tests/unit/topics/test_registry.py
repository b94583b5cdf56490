"""The topic registry is complete, consistent, and the only place topic names appear."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import ALL_EVENT_TYPES, OrderRequested, PriceUpdated
from topics import AGENT_INPUTS, Cleanup, Streams, Topics
from topics.registry import DEAD_LETTER_SUFFIX

REPO = Path(__file__).resolve().parents[3]


def test_every_event_type_is_carried_by_exactly_one_topic() -> None:
    for event_type in ALL_EVENT_TYPES:
        assert Topics.for_event(event_type).value_types.count(event_type) == 1


def test_names_are_unique_and_dotted() -> None:
    names = [topic.name for topic in Topics.with_dead_letters()] + [s.name for s in Streams.all()]
    assert len(names) == len(set(names))
    for name in names:
        assert name == name.lower()
        assert " " not in name


def test_every_topic_has_a_dead_letter_topic_and_dead_letters_have_none() -> None:
    for topic in Topics.all():
        dead = topic.dead_letter
        assert dead is not None
        assert dead.name == topic.name + DEAD_LETTER_SUFFIX
        assert dead.dead_letter is None


def test_key_fields_exist_on_every_value_type() -> None:
    for topic in Topics.all():
        for event_type in topic.value_types:
            # A broadcast copy names its partition and is keyed by its symbol.
            fields = ("partition", "symbol") if event_type in topic.broadcast else topic.key_fields
            for field in fields:
                assert field in event_type.model_fields, f"{topic.name}: {event_type.__name__} lacks {field}"


def test_a_broadcast_copy_goes_to_the_partition_it_names() -> None:
    from schemas import OrdersDecidedThrough

    topic = Topics.ORDERS_REQUESTED
    at = datetime(2024, 8, 8, tzinfo=UTC)
    copies = [OrdersDecidedThrough(symbol="BTC/USDT", through=at, partition=p) for p in range(6)]
    assert [topic.partition_of(copy) for copy in copies] == list(range(topic.partitions))
    assert {topic.key_for(copy) for copy in copies} == {b"BTC/USDT"}
    with pytest.raises(ValueError, match="partition 6"):
        topic.partition_of(OrdersDecidedThrough(symbol="BTC/USDT", through=at, partition=6))


def test_keys_group_what_must_stay_ordered() -> None:
    order = OrderRequested(
        order_id="o-1",
        account_id="acct-7",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        quantity=Decimal(1),
    )
    assert Topics.ORDERS_REQUESTED.key_for(order) == b"acct-7"
    price = PriceUpdated(venue="kraken", symbol="BTC/USD", price=Decimal(1), market_time=datetime.now(UTC))
    assert Topics.PRICES.key_for(price) == b"BTC/USD"
    with pytest.raises(TypeError, match="does not belong"):
        Topics.PRICES.key_for(order)


def test_compacted_topics_have_no_time_retention() -> None:
    assert Topics.ORDER_BOOKS.config() == {"cleanup.policy": Cleanup.COMPACT.value}
    assert Topics.ORDERS_REQUESTED.config()["cleanup.policy"] == "delete"


def test_prefix_applies_to_topics_and_streams() -> None:
    assert Topics.ALERTS.full_name("desk-a.") == "desk-a.alerts"
    assert Streams.ALERTS.dead_letter_name("t.") == "t.zvt.alerts" + DEAD_LETTER_SUFFIX


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_no_topic_or_stream_name_is_spelled_outside_the_registry() -> None:
    registered = {topic.name for topic in Topics.with_dead_letters()} | {s.name for s in Streams.all()}
    offenders = []
    for package in (
        "zvt",
        "schemas",
        "topics",
        "hatchet_workflows",
        "agents",
        "bridge",
        "bench",
        "trading",
        "venues",
        "eventstore",
    ):
        for path in (REPO / package).rglob("*.py") if (REPO / package).exists() else ():
            if path == REPO / "topics" / "registry.py":
                continue
            offenders += [
                f"{path.relative_to(REPO)}: {name!r}" for name in _string_literals(path) & registered
            ]
    assert not offenders, "topic names belong in topics/registry.py:\n" + "\n".join(offenders)


def test_agent_inputs_are_the_topics_the_agents_read() -> None:
    """`AGENT_INPUTS` is how `zvt session` knows the pipeline drained: a topic an agent reads but the list
    misses would end a session before that agent is done."""
    import importlib

    from agents.worker import AGENT_MODULES

    for module in AGENT_MODULES.values():
        importlib.import_module(module)
    from agents.settings import get_agent_settings
    from agents.stage import STAGES
    from topics.registry import PAPER_AGENT_INPUTS

    read = {topic.name for stage in STAGES for topic in stage.inputs}
    # This configuration has no live venues (nobody reads LIVE_AGENT_INPUTS) and no strategies (nobody
    # reads prices); the paper engine is on by default.
    paper = PAPER_AGENT_INPUTS if get_agent_settings().paper_engine else ()
    assert read | {Topics.PRICES.name} == {topic.name for topic in (*AGENT_INPUTS, *paper)}
    assert Topics.PRICES.name not in read


def test_paper_commands_are_co_partitioned_with_the_ticks_they_are_matched_with() -> None:
    """The paper venue stage reads partition p of both: same count, same key (the symbol's bytes)."""
    from schemas import PaperOrdersThrough, TradeTick

    commands, ticks = Topics.PAPER_COMMANDS, Topics.MARKET_TICKS
    assert commands.partitions == ticks.partitions
    at = datetime(2024, 8, 8, tzinfo=UTC)
    tick = TradeTick(
        venue="binance",
        symbol="BTC/USDT",
        trade_id="t-1",
        price=Decimal(1),
        quantity=Decimal(1),
        market_time=at,
    )
    mark = PaperOrdersThrough(symbol="BTC/USDT", source="orders.0", through=at)
    assert commands.key_for(mark) == ticks.key_for(tick) == b"BTC/USDT"


def test_with_the_paper_engine_the_agents_read_the_registrys_paper_inputs_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `ZVT_PAPER_ENGINE` adds to what the agents read is in `PAPER_AGENT_INPUTS`."""
    from agents import orders, paper_venue
    from topics.registry import PAPER_AGENT_INPUTS

    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    read = {topic.name for topic in (*orders._inputs(), *paper_venue.INPUTS)}
    known = {topic.name for topic in (*AGENT_INPUTS, *PAPER_AGENT_INPUTS)}
    assert read <= known
    assert {topic.name for topic in PAPER_AGENT_INPUTS} <= read


def test_no_two_stages_of_one_consumer_group_read_the_same_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a group a partition goes to one member: two stages of one group reading a topic would each
    see part of it (the paper venue stage once got half of market.ticks, the market data stage the rest)."""
    import importlib

    from agents.worker import AGENT_MODULES

    for module in AGENT_MODULES.values():
        importlib.import_module(module)
    from agents import orders, paper_venue, strategies
    from agents.stage import STAGES
    from topics.registry import agent_groups, stage_group

    class On:
        paper_engine = True

    monkeypatch.setattr(orders, "get_agent_settings", lambda: On())
    read = {stage.name: set(stage.inputs) for stage in STAGES}
    read |= {"orders": set(orders._inputs()), "paper_venue": set(paper_venue.INPUTS)}
    read["strategies"] = {*read.get("strategies", {Topics.PRICES}), *strategies.INPUTS}
    read["strategy_updates"] = set(strategies.RELAY_INPUTS)
    by_group: dict[str, list[str]] = {}
    for name, inputs in read.items():
        for topic in inputs:
            by_group.setdefault(f"{stage_group(name)} {topic.name}", []).append(name)
    assert {key: names for key, names in by_group.items() if len(names) > 1} == {}
    # What `zvt session` waits for: each group's topics are those its stages read.
    for group, waited in agent_groups(paper_engine=True, strategies_hear=True):
        readers = {name for name in read if stage_group(name) == group}
        assert {t.name for t in waited} <= {t.name for name in readers for t in read[name]}, group


def test_with_strategies_the_agents_read_the_registrys_strategy_inputs_too() -> None:
    """What configured strategies add to what the agents read is in `STRATEGY_AGENT_INPUTS`, and their
    updates are co-partitioned with the prices whose slots they reach."""
    from agents import strategies
    from schemas import PriceUpdated, StrategyOrderUpdate
    from topics.registry import STRATEGY_AGENT_INPUTS

    read = {topic.name for topic in (*strategies.INPUTS, *strategies.RELAY_INPUTS)}
    known = {topic.name for topic in (*AGENT_INPUTS, *STRATEGY_AGENT_INPUTS)}
    assert read <= known
    assert {topic.name for topic in STRATEGY_AGENT_INPUTS} <= read
    updates, prices = Topics.STRATEGY_ORDER_UPDATES, Topics.PRICES
    assert updates.partitions == prices.partitions
    at = datetime(2024, 8, 8, tzinfo=UTC)
    price = PriceUpdated(venue="binance", symbol="BTC/USDT", price=Decimal(1), market_time=at)
    update = StrategyOrderUpdate(
        order_id="o", account_id="a", strategy_id="s", symbol="BTC/USDT", side="buy",
        kind="accepted", source_event_id=price.event_id, ended=False,
    )  # fmt: skip
    assert updates.key_for(update) == prices.key_for(price) == b"BTC/USDT"
