"""Every worker's own copy of the runtime control state: kill switches, strategy halts, runtime limits.

A command must reach every worker, whichever partitions of the order and price topics it holds, so each
worker reads `control.commands` whole, from its first record, with a consumer of its own outside any group
(it commits nothing), and folds each command into its `ControlState` (`trading.controls`, pure). The order
and strategies stages wait for the replay to reach the topic's end before their first event, so a worker
(re)started while a kill switch is engaged never lets an order through first. After that a new command is
applied as soon as the consumer's fetch returns it: milliseconds, not a restart.

What the stages read from the state is a plain attribute: the order stage's risk check takes the account's
effective limits from it (`limits_for`), the strategies stage asks whether a strategy is halted.

A record that is not a signed control command is refused here (counted and logged, never applied); the
event store's sink, which reads the topic too, dead-letters it with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.app import app, settings
from agents.market_view import market_view
from agents.settings import get_trading_config
from runtime.clients import kafka_security
from runtime.controls import NotAControlCommand, control_command
from runtime.metrics import CONTROL_COMMANDS, KILL_SWITCH, STRATEGIES_HALTED
from schemas.controls import GLOBAL_SCOPE, ControlCommand
from schemas.signing import signature_in
from topics import Topics
from trading.config import RiskLimits
from trading.controls import ControlState, effective_limits, kill_switch_detail

log = logging.getLogger(__name__)


class ControlView:
    """The control state this worker applies, kept current by `run`."""

    def __init__(self) -> None:
        self.state = ControlState()
        self.refused = 0
        self._caught_up = asyncio.Event()

    def apply_record(self, data: bytes | None, signature: bytes | None) -> ControlCommand | None:
        """Apply one record of the control topic once it is verified and decoded; None if refused."""
        try:
            command = control_command(data, signature)
        except NotAControlCommand as exc:
            self._refuse(str(exc))
            return None
        self.state = self.state.apply(command)
        CONTROL_COMMANDS.labels("applied").inc()
        self._export()
        (log.warning if self.caught_up else log.info)(  # the replay at start, quietly
            "control: %s %s by %s: %s", command.event_type, command.scope, command.issued_by, command.reason
        )
        return command

    def _refuse(self, why: str) -> None:
        self.refused += 1
        CONTROL_COMMANDS.labels("refused").inc()
        log.error("control command refused: %s", why)

    def _export(self) -> None:
        state = self.state
        KILL_SWITCH.labels(GLOBAL_SCOPE).set(int(state.global_kill is not None and state.global_kill.on))
        for account, setting in state.account_kills.items():
            KILL_SWITCH.labels(f"account:{account}").set(int(setting.on))
        STRATEGIES_HALTED.set(sum(1 for setting in state.strategy_halts.values() if setting.on))

    def limits_for(self, account_id: str) -> RiskLimits:
        """The account's limits as risk checks them now: configured, with the runtime controls applied."""
        return effective_limits(get_trading_config().limits_for(account_id), self.state, account_id)

    def kill_switch_detail(self, account_id: str) -> str | None:
        return kill_switch_detail(self.state, account_id)

    def halted(self, strategy_id: str) -> bool:
        return self.state.halted(strategy_id)

    async def wait_caught_up(self) -> None:
        await self._caught_up.wait()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def run(self, bootstrap: str, prefix: str) -> None:
        topic = Topics.CONTROL_COMMANDS
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **kafka_security(settings),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,  # a command is rare and wanted at once: a short long-poll
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic.full_name(prefix), p) for p in range(topic.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            self._export()
            while True:
                if not self._caught_up.is_set() and all(
                    [await consumer.position(tp) >= ends[tp] for tp in partitions]
                ):
                    log.info("control state caught up: %d commands", self.state.applied)
                    self._caught_up.set()
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self.apply_record(record.value, signature_in(record.headers))
        finally:
            await consumer.stop()

    def summary(self) -> dict[str, Any]:
        return {"caught_up": self.caught_up, "refused": self.refused, **self.state.model_dump(mode="json")}


control_view = ControlView()


@app.task  # type: ignore[untyped-decorator]
async def follow_controls() -> None:
    await control_view.run(settings.kafka_bootstrap, settings.topic_prefix)


async def wait_market_and_controls() -> None:
    """What a deciding stage waits for before its first event: the market view and the control state."""
    await market_view.wait_caught_up()
    await control_view.wait_caught_up()


@app.page("/zvt/controls/")
async def controls_page(web: Any, request: Any) -> Any:
    """The control state this worker applies, on the Faust web monitor."""
    return web.json(control_view.summary())
