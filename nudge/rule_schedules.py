"""Each active time-based rule owns one Temporal Schedule: created, updated, paused and
deleted with the rule."""

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows.time_rule import TimeRuleRunWorkflow


@dataclass
class TimeRule:
    id: int
    name: str
    trigger_type: str
    trigger_config: dict
    is_active: bool


def rule_schedule_id(rule_id: int) -> str:
    return f"rule-schedule-{rule_id}"


def _spec(config: dict) -> ScheduleSpec:
    if "cron" in config:
        return ScheduleSpec(cron_expressions=[config["cron"]], time_zone_name=config["timezone"])
    at = datetime.fromisoformat(config["at"]).astimezone(UTC)
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(at.second)],
                minute=[ScheduleRange(at.minute)],
                hour=[ScheduleRange(at.hour)],
                day_of_month=[ScheduleRange(at.day)],
                month=[ScheduleRange(at.month)],
                year=[ScheduleRange(at.year)],
            )
        ],
        time_zone_name="UTC",
    )


def _schedule(rule: TimeRule, task_queue: str) -> Schedule:
    once = "at" in rule.trigger_config
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TimeRuleRunWorkflow.run,
            rule.id,
            id=f"rule-run-{rule.id}",
            task_queue=task_queue,
            static_summary=f"Time rule {rule.name!r}",
        ),
        spec=_spec(rule.trigger_config),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            paused=not rule.is_active,
            note="rule inactive" if not rule.is_active else f"rule {rule.id}",
            limited_actions=once,
            remaining_actions=1 if once else 0,
        ),
    )


async def sync_rule_schedule(client: Client, task_queue: str, rule: TimeRule) -> None:
    """Make the rule's schedule match the rule (no schedule unless it is a time rule)."""
    if rule.trigger_type != "time":
        await delete_rule_schedule(client, rule.id)
        return
    wanted = _schedule(rule, task_queue)
    try:
        await client.create_schedule(rule_schedule_id(rule.id), wanted)
    except Exception as err:  # ScheduleAlreadyRunningError: update it instead
        if isinstance(err, RPCError):
            raise

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(rule_schedule_id(rule.id)).update(replace)


async def delete_rule_schedule(client: Client, rule_id: int) -> None:
    try:
        await client.get_schedule_handle(rule_schedule_id(rule_id)).delete()
    except RPCError as err:
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
            raise
