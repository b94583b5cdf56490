"""The Kafka ACLs of a prefix: who may write what (topics.acls), in step with the stack's principals."""

from __future__ import annotations

import re

from runtime.settings import REPO_ROOT
from topics import Topics
from topics.acls import (
    CONTROL_TOPICS,
    DENY,
    INPUT_TOPICS,
    OPERATOR_TOPICS,
    Operation,
    Pattern,
    Resource,
    acls_for_prefix,
)
from topics.registry import DEAD_LETTER_SUFFIX

PREFIX = "desk-1."


def written_by(principal: str) -> set[str]:
    return {
        acl.name
        for acl in acls_for_prefix(PREFIX)
        if acl.principal == principal and acl.resource == Resource.TOPIC and acl.operation == Operation.WRITE
    }


def test_publisher_writes_the_input_topics_only() -> None:
    assert written_by("publisher") == {topic.full_name(PREFIX) for topic in INPUT_TOPICS}


def test_api_writes_orders_their_changes_and_the_controls_only() -> None:
    assert written_by("api") == {topic.full_name(PREFIX) for topic in (*OPERATOR_TOPICS, *CONTROL_TOPICS)}
    assert Topics.MARKET_TICKS.full_name(PREFIX) not in written_by("api")


def test_sink_writes_dead_letters_only_and_monitor_nothing() -> None:
    assert written_by("sink")
    assert all(name.endswith(DEAD_LETTER_SUFFIX) for name in written_by("sink"))
    assert written_by("monitor") == written_by("workflows") == set()


def test_bridge_cannot_forge_fills() -> None:
    assert Topics.ORDERS_EXECUTED.full_name(PREFIX) not in written_by("bridge")
    assert Topics.ORDERS_REQUESTED.full_name(PREFIX) in written_by("bridge")


def test_every_grant_is_under_the_prefix() -> None:
    for acl in acls_for_prefix(PREFIX):  # so revoking one prefix's leaves every other's alone
        assert acl.name.startswith(PREFIX), acl
    assert all(acl.pattern == Pattern.LITERAL for acl in acls_for_prefix("") if acl.name == "*")


def test_the_acls_name_the_principals_the_stack_makes() -> None:
    script = (REPO_ROOT / "deploy" / "local" / "kafka.sh").read_text()
    match = re.search(r"^KAFKA_PRINCIPALS=\(([^)]*)\)", script, re.M)
    assert match is not None
    made = set(match[1].split()) - {"admin"}
    assert {acl.principal for acl in acls_for_prefix(PREFIX)} == made


def test_the_input_topics_say_who_may_write_them() -> None:
    from topics.acls import writers

    for prefix in (PREFIX, ""):
        assert writers(Topics.MARKET_TICKS, prefix) == {"agents", "publisher"}
        assert writers(Topics.ORDERS_REQUESTED, prefix) == {"agents", "api", "bridge", "publisher"}
        assert writers(Topics.ORDERS_EXECUTED, prefix) == {"agents"}


def test_only_the_agents_write_the_paper_venues_commands() -> None:
    """The order stage's commands are internal: no publisher or bridge may hand the engine an order."""
    from topics.acls import writers

    for prefix in (PREFIX, ""):
        assert writers(Topics.PAPER_COMMANDS, prefix) == {"agents"}


def test_the_controls_are_written_by_operators_alone() -> None:
    """The agents read the control topic but may not write it (a DENY over their prefix grant): a pipeline
    process cannot engage or release a kill switch. The CLI operator writes as admin, a super user."""
    from topics.acls import writers

    for prefix in (PREFIX, ""):
        assert writers(Topics.CONTROL_COMMANDS, prefix) == {"api"}
    denied = [acl for acl in acls_for_prefix(PREFIX) if acl.permission == DENY]
    assert [(acl.principal, acl.name, acl.operation) for acl in denied] == [
        ("agents", Topics.CONTROL_COMMANDS.full_name(PREFIX), Operation.WRITE)
    ]
