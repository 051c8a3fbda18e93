"""Starting and cancelling a task's reminder workflow (`reminder-task-{id}`: one per task)."""

import contextlib
from datetime import datetime

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from nudge.core.ids import reminder_workflow_id
from nudge.platform.temporal import started_once
from nudge.reminders.payloads import ReminderInput
from workflows.reminder import ReminderWorkflow


async def start_reminder(
    client: Client, task_queue: str, *, owner_id: int, task_id: int, remind_at: datetime
) -> bool:
    """Start the task's reminder unless it has one (running or done): the id dedupes
    concurrent sweeps and a reminder its rule firing already runs."""
    return await started_once(
        client.start_workflow(
            ReminderWorkflow.run,
            ReminderInput(owner_id=owner_id, task_id=task_id, remind_at=remind_at),
            id=reminder_workflow_id(task_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Reminder for task {task_id} (sweep)",
        )
    )


async def cancel_reminder(client: Client, task_id: int) -> None:
    """Best effort: the reminder also checks its task when it wakes and skips a done one."""
    # Not found, already done, Temporal unreachable: the task is completed either way.
    with contextlib.suppress(RPCError, RuntimeError):
        await client.get_workflow_handle(reminder_workflow_id(task_id)).cancel()
