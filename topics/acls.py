"""What each process kind's Kafka principal may do on the topics of one prefix (KRaft's StandardAuthorizer).

Topic rights are literal ACLs on the prefixed names, granted when the prefix's topics are made (see
`topics.admin.ensure_topics`), so a desk or a test run on its own prefix gets rights on its topics only.
Groups and transactional ids carry suffixes chosen at run time (a host, a pid): those are prefixed ACLs.
Every principal may describe every topic of the prefix (metadata, so that `ensure_topics` can check them);
only `admin` (a super user, deploy/local/kafka.sh) creates or deletes topics and ACLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.admin import (
    CreateAclsRequest,
    CreateAclsRequestStruct,
    DeleteAclsRequest,
    DeleteAclsRequestStruct,
    DescribeAclsRequest,
)

from topics.registry import (
    AGENTS_GROUP,
    BRIDGE_GROUP,
    SINK_CONSUMER,
    KafkaTopic,
    Streams,
    Topics,
)

SECURITY_DISABLED = 54  # a broker without an authorizer: nothing to grant
SMOKE_TRANSACTIONS = "zvt-smoke-"  # zvt/smoke.py's transactional ids, after the prefix
# Topics that take events from outside the platform, and who may write them.
INPUT_TOPICS = (Topics.MARKET_TICKS, Topics.ORDERS_REQUESTED, Topics.ORDER_CHANGES_REQUESTED)
# The input topics a person writes through `zvt api`: orders and changes to them, never market data.
OPERATOR_TOPICS = (Topics.ORDERS_REQUESTED, Topics.ORDER_CHANGES_REQUESTED)
# Runtime controls (kill switches, halts, limits): written by `zvt api` (its risk officers) and the CLI
# operator (`zvt control`, as admin, a super user); read by every agent worker. The agents' grant on the
# whole prefix is denied here: a pipeline process cannot issue an operator's command.
CONTROL_TOPICS = (Topics.CONTROL_COMMANDS,)


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3
DENY = 2


class AclError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Acl:
    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = Pattern.LITERAL
    permission: int = ALLOW  # DENY wins over any ALLOW of the same principal (Kafka's rule)

    def fields(self) -> tuple[int, str, int, str, str, int, int]:
        return (
            self.resource,
            self.name,
            self.pattern,
            f"User:{self.principal}",
            "*",
            self.operation,
            self.permission,
        )


def _topics(principal: str, topics: Iterable[str], *operations: Operation) -> list[Acl]:
    return [Acl(principal, Resource.TOPIC, name, op) for name in topics for op in operations]


def _prefixed(principal: str, resource: Resource, name: str, *operations: Operation) -> list[Acl]:
    """On every name that starts with `name`; for an empty one (the deployment without a prefix), on all."""
    if not name:
        return [Acl(principal, resource, "*", op) for op in operations]
    return [Acl(principal, resource, name, op, Pattern.PREFIXED) for op in operations]


def _names(prefix: str, topics: Iterable[KafkaTopic | None]) -> list[str]:
    return [topic.full_name(prefix) for topic in topics if topic is not None]


def acls_for_prefix(prefix: str) -> list[Acl]:
    """Every principal's rights on the topics, groups and transactional ids of `prefix`."""
    topic, group, transactions = Resource.TOPIC, Resource.GROUP, Resource.TRANSACTIONAL_ID
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    dead_letters = _names(prefix, (t.dead_letter for t in Topics.all()))
    bridge_in = [t for stream in Streams.all() for t in stream.from_topics]
    bridge_out = [stream.to_topic for stream in Streams.all()]
    acls = [
        acl
        for principal in ("agents", "sink", "bridge", "workflows", "publisher", "monitor", "smoke", "api")
        for acl in _prefixed(principal, topic, prefix, describe)
    ]
    # agents: the pipeline reads and writes the deployment's topics and changelogs, in transactions
    acls += _prefixed("agents", topic, prefix, read, write)
    acls += _prefixed("agents", group, f"{prefix}{AGENTS_GROUP}", read, describe)
    acls += _prefixed("agents", transactions, f"{prefix}{AGENTS_GROUP}", write, describe)
    # sink: reads everything into the event store; writes only dead letters
    acls += _prefixed("sink", topic, prefix, read)
    acls += _topics("sink", dead_letters, write)
    acls += _prefixed("sink", group, f"{prefix}{SINK_CONSUMER}", read, describe)
    # bridge: Kafka -> Redis for the routes' sources (and their dead letters), Redis -> Kafka for the rest
    acls += _topics("bridge", _names(prefix, bridge_in), read)
    acls += _topics("bridge", _names(prefix, (*bridge_out, *(t.dead_letter for t in bridge_in))), write)
    acls += _prefixed("bridge", group, f"{prefix}{BRIDGE_GROUP}", read, describe)
    # publisher: the input topics only
    acls += _topics("publisher", _names(prefix, INPUT_TOPICS), write)
    # monitor: reads everything, commits nothing, looks at every group's offsets
    acls += _prefixed("monitor", topic, prefix, read)
    acls += _prefixed("monitor", group, prefix, describe)
    # api (`zvt api`): the orders and cancels operators place, and reads everything for its WebSocket stream
    # without a group (it commits nothing)
    acls += _topics("api", _names(prefix, (*OPERATOR_TOPICS, *CONTROL_TOPICS)), write)
    acls += [Acl("agents", topic, name, write, permission=DENY) for name in _names(prefix, CONTROL_TOPICS)]
    acls += _prefixed("api", topic, prefix, read)
    # smoke: one transaction on the alerts topic
    acls += _topics("smoke", _names(prefix, [Topics.ALERTS]), read, write)
    acls += _prefixed("smoke", transactions, f"{prefix}{SMOKE_TRANSACTIONS}", write, describe)
    # workflows: no Kafka client today (Redis only); the principal exists with describe rights alone
    return sorted(set(acls), key=Acl.fields)


def writers(topic: KafkaTopic, prefix: str = "") -> set[str]:
    """The principals that may write `topic` (literally or through a prefix grant): for the input topics,
    who may bring events in from outside (each must also hold the signing keyring, docs/signed-events.md)."""
    name = topic.full_name(prefix)
    granted: dict[int, set[str]] = {ALLOW: set(), DENY: set()}
    for acl in acls_for_prefix(prefix):
        if (
            acl.resource == Resource.TOPIC
            and acl.operation == Operation.WRITE
            and (acl.name in (name, "*") or (acl.pattern == Pattern.PREFIXED and name.startswith(acl.name)))
        ):
            granted[acl.permission].add(acl.principal)
    return granted[ALLOW] - granted[DENY]


class _CreateAcls(CreateAclsRequest):  # type: ignore[misc]
    """CreateAcls with every ACL in one request (aiokafka's builder sends one, and has no admin call)."""

    def __init__(self, acls: list[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[CreateAclsRequestStruct]) -> CreateAclsRequestStruct:
        if request_struct_class.API_VERSION < 1:  # v0 has no pattern types (and Kafka 4 no v0)
            raise IncompatibleBrokerVersion("CreateAcls v1 or later is needed")
        return request_struct_class([acl.fields() for acl in self._acls])


class _DeleteAcls(DeleteAclsRequest):  # type: ignore[misc]
    """DeleteAcls with one exact filter per ACL, all in one request."""

    def __init__(self, acls: list[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[DeleteAclsRequestStruct]) -> DeleteAclsRequestStruct:
        if request_struct_class.API_VERSION < 1:
            raise IncompatibleBrokerVersion("DeleteAcls v1 or later is needed")
        return request_struct_class([acl.fields() for acl in self._acls])


def _check(errors: Iterable[tuple[int, str]], acls: list[Acl], verb: str) -> bool:
    """False on a broker without an authorizer; raises on any other error."""
    for acl, (error_code, message) in zip(acls, errors, strict=True):
        if error_code == SECURITY_DISABLED:
            return False
        if error_code:
            raise AclError(f"{verb} {acl} failed: error {error_code}: {message}")
    return True


async def grant_prefix(admin: AIOKafkaAdminClient, prefix: str) -> int:
    """Create the ACLs of `prefix` (existing ones stay as they are); returns how many it holds (0: no
    authorizer on this broker)."""
    acls = acls_for_prefix(prefix)
    response = await admin._send_request(_CreateAcls(acls))
    if not _check(response.creation_responses, acls, "granting"):
        return 0
    await _until_visible(admin, acls)
    return len(acls)


async def _until_visible(admin: AIOKafkaAdminClient, acls: list[Acl], within: float = 60.0) -> None:
    """Wait until the broker authorizes with the new ACLs: the controller commits them in one batch, the
    broker applies it from the metadata log a moment later (seconds on a busy machine), and a process started
    in between would be refused. The ACL watched is one of this prefix's own, not a wildcard an earlier grant
    may have made."""
    watched = next((acl for acl in reversed(acls) if acl.name != "*"), acls[-1])
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await admin._send_request(DescribeAclsRequest(*watched.fields()))
        if response.error_code == 0 and response.resources:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AclError(f"the broker does not show {watched} {within:.0f} s after it was created")
        await asyncio.sleep(0.05)


async def revoke_prefix(admin: AIOKafkaAdminClient, prefix: str) -> None:
    """Delete the ACLs `grant_prefix` made for `prefix` (when its topics are deleted); never a wildcard."""
    acls = [acl for acl in acls_for_prefix(prefix) if acl.name.startswith(prefix) and acl.name != "*"]
    if not acls:
        return
    response = await admin._send_request(_DeleteAcls(acls))
    _check(((code, message) for code, message, _ in response.filter_responses), acls, "revoking")
