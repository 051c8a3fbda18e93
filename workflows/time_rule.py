"""One run of a time-based rule, started by the rule's own Temporal Schedule."""

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.rules import TimeRuleActivities
    from workflows.policies import TIME_RULE_TIMEOUT

# Set by the schedule on each run it starts.
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class TimeRuleRunWorkflow:
    @workflow.run
    async def run(self, rule_id: int) -> int:
        # The scheduled minute names its tasks: a retried run, or a late one, adds none.
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_AT)
        run_at = (scheduled or workflow.info().workflow_start_time).replace(second=0, microsecond=0)
        return await workflow.execute_activity_method(
            TimeRuleActivities.run_time_rule,
            args=[rule_id, run_at],
            start_to_close_timeout=TIME_RULE_TIMEOUT,
            summary=f"Tasks for rule {rule_id}'s contacts, {run_at:%Y-%m-%d %H:%M}",
        )
