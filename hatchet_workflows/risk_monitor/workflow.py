"""`risk.monitor_portfolio`: every five minutes (cron, `ZVT_MONITOR_CRON`) or on demand, the exposure,
drawdown and historical VaR of every account; a crossed limit raises risk.breached and alert.triggered.

gather -> assess -> derisk

- gather takes the positions and price history from the input, or reads them from the event store
  (position projections, the newest price.updated per symbol); and the breaches earlier runs left open
  (Redis), with the time they are judged at. Hatchet keeps its output: a retried assess decides the same.
- assess computes the figures with the pure core (`trading.risk_metrics`), keeps of the breaches what is
  new, due for a re-alert (`realert_seconds`) or due for de-risking (`track`), publishes each of those and
  its alert to the monitor streams (the bridge moves them to Kafka), then stores the open breaches for the
  next run. Event ids follow from the run id, so a retried step re-sends the same events, which the bus
  drops.
- derisk, for accounts whose breach of a rule in `[monitor] derisk_rules` has not been de-risked yet: a
  child `portfolio.rebalance` that cuts the account's long holdings to `derisk_scale` of them, caused by
  the breach (its event id is the rebalance's causation id and the child key, so a retried step gets the
  same child back). A breach that lasts past the rebalance is not de-risked again until it has cleared.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hatchet_sdk import Context

from hatchet_workflows.client import hatchet
from hatchet_workflows.rebalance.models import RebalanceResult
from hatchet_workflows.rebalance.workflow import finish, rebalance_workflow
from hatchet_workflows.resources import stream_bus, trading_config
from hatchet_workflows.risk_monitor.models import (
    MONITOR_NAMESPACE,
    Derisked,
    MonitorInput,
    MonitorResult,
    Snapshot,
    derisk_inputs,
    evaluate,
    track,
)
from hatchet_workflows.risk_monitor.store import load_state, read_snapshot, save_state
from runtime.settings import get_settings
from schemas import RiskBreached
from topics.registry import Streams
from trading.ids import derived_id

monitor_workflow = hatchet.workflow(
    name="risk.monitor_portfolio",
    input_validator=MonitorInput,
    on_crons=[get_settings().monitor_cron] if get_settings().monitor_cron else [],
    cron_input=MonitorInput(),
)


@monitor_workflow.task(execution_timeout=timedelta(seconds=15), retries=3)
async def gather(watch: MonitorInput, ctx: Context) -> Snapshot:
    now = watch.as_of or datetime.now(UTC)
    if watch.accounts is not None and watch.price_history is not None:
        snapshot = Snapshot(accounts=watch.accounts, price_history=watch.price_history, as_of=now)
    else:
        snapshot = await read_snapshot(get_settings().postgres_url(), watch.window, now)
    return snapshot.model_copy(update={"state": await load_state(stream_bus())})


@monitor_workflow.task(parents=[gather], execution_timeout=timedelta(seconds=10), retries=3)
async def assess(watch: MonitorInput, ctx: Context) -> MonitorResult:
    correlation_id = derived_id(MONITOR_NAMESPACE, ctx.workflow_run_id)
    snapshot, limits = ctx.task_output(gather), trading_config().monitor
    result = track(evaluate(snapshot, limits, correlation_id), snapshot.state, snapshot.as_of, limits)
    breaches = [e for e in result.events if isinstance(e, RiskBreached)]
    alerts = [e for e in result.events if not isinstance(e, RiskBreached)]
    bus = stream_bus()
    if breaches:
        await bus.publish_many(Streams.MONITOR_BREACHES, breaches)
    if alerts:
        await bus.publish_many(Streams.MONITOR_ALERTS, alerts)
    await save_state(bus, result.state)  # after publishing: a crash before it re-decides the same
    return result


@monitor_workflow.task(parents=[gather, assess], execution_timeout=timedelta(seconds=150), retries=2)
async def derisk(watch: MonitorInput, ctx: Context) -> Derisked:
    breaches = ctx.task_output(assess).derisk
    inputs = derisk_inputs(ctx.task_output(gather), breaches, trading_config().monitor)
    if not inputs:
        return Derisked(statuses={})
    runs = [
        rebalance_workflow.create_bulk_run_item(rebalance, child_key=f"derisk-{rebalance.causation_id}")
        for rebalance in inputs
    ]
    results = await rebalance_workflow.aio_run_many(runs, return_exceptions=True)
    return Derisked(
        statuses={
            # A rebalance that failed has recorded `failed` itself (its on-failure step).
            rebalance.account_id: "failed"
            if isinstance(result, BaseException)
            else RebalanceResult.model_validate(result[finish.name]).event.status.value
            for rebalance, result in zip(inputs, results, strict=True)
        }
    )
