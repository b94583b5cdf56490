"""The control topic read by those who give commands (`zvt control show`, the API's `GET /controls`): every
record from the first to the end as of now, verified and folded into the control state the workers apply."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.clients import kafka_options
from runtime.settings import Settings
from schemas import CODEC, EventDecodeError
from schemas.controls import ControlCommand
from schemas.signing import SignatureError, keyring, signature_in
from topics import Topics
from trading.controls import ControlState


class NotAControlCommand(ValueError):
    """A record of the control topic that is not a signed, valid control command; the text says why."""


def control_command(value: bytes | None, signature: bytes | None) -> ControlCommand:
    """The command a record of the control topic carries, once its signature is verified."""
    try:
        keyring().verify(value or b"", signature)
        command = CODEC.decode(value or b"")
    except (SignatureError, EventDecodeError) as exc:
        raise NotAControlCommand(str(exc)) from None
    if not isinstance(command, ControlCommand):
        raise NotAControlCommand(f"{command.event_type} is not a control command")
    return command


@dataclass
class ControlLog:
    """What the topic holds: the state its commands fold to, and the records refused (with why)."""

    state: ControlState = field(default_factory=ControlState)
    commands: list[ControlCommand] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    end_offsets: dict[int, int] = field(default_factory=dict)


async def read_control_log(settings: Settings) -> ControlLog:
    """Every command on the control topic up to its end now, folded in order (no group, nothing committed)."""
    topic = Topics.CONTROL_COMMANDS
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False, group_id=None)
    await consumer.start()
    found = ControlLog()
    try:
        name = topic.full_name(settings.topic_prefix)
        partitions = [TopicPartition(name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found.end_offsets = {tp.partition: ends[tp] for tp in partitions}
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    try:
                        command = control_command(record.value, signature_in(record.headers))
                    except NotAControlCommand as exc:
                        found.refused.append(f"offset {record.offset}: {exc}")
                        continue
                    found.commands.append(command)
                    found.state = found.state.apply(command)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return found
    finally:
        await consumer.stop()
