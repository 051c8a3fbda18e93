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
)

from nudge.core.ids import rule_schedule_id, time_rule_run_id
from nudge.platform.temporal import delete_schedule, upsert_schedule
from workflows.time_rule import TimeRuleRunWorkflow


@dataclass
class TimeRule:
    id: int
    name: str
    trigger_type: str
    trigger_config: dict
    is_active: bool


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
            id=time_rule_run_id(rule.id),
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
    await upsert_schedule(client, rule_schedule_id(rule.id), _schedule(rule, task_queue))


async def delete_rule_schedule(client: Client, rule_id: int) -> None:
    await delete_schedule(client, rule_schedule_id(rule_id))
