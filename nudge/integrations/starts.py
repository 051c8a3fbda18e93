"""Starting (or kicking) a delivery workflow: signal-with-start on its id, so one runs per
(subscription, task) however many writers, sweeps and replays ask at once."""

import asyncio
import logging
from dataclasses import dataclass

from temporalio.client import Client

from nudge.core.ids import delivery_workflow_id
from nudge.integrations.payloads import DeliveryInput
from nudge.platform.temporal import search_attributes
from workflows.delivery import DeliveryWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryTiming:
    """Retries back off from `first_retry_seconds`; after `horizon_seconds` a delivery is
    dead (settings: NUDGE_WEBHOOK_RETRY_HOURS, three days)."""

    horizon_seconds: float = 3 * 24 * 3600
    first_retry_seconds: float = 10


async def kick_delivery(
    client: Client,
    task_queue: str,
    subscription_id: int,
    task_id: int,
    owner_id: int,
    timing: DeliveryTiming = DeliveryTiming(),
) -> None:
    await client.start_workflow(
        DeliveryWorkflow.run,
        DeliveryInput(
            subscription_id=subscription_id,
            task_id=task_id,
            owner_id=owner_id,
            horizon_seconds=timing.horizon_seconds,
            first_retry_seconds=timing.first_retry_seconds,
        ),
        id=delivery_workflow_id(subscription_id, task_id),
        task_queue=task_queue,
        start_signal="kick",
        search_attributes=search_attributes(owner_id, 0, "webhook"),
        static_summary=f"Task {task_id}'s events to subscription {subscription_id}",
    )


class ThreadKicker:
    """A commit's kicks, from whatever thread committed, run on the event loop that owns
    the Temporal client (fire and forget: the periodic sweep covers a kick that fails)."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        loop: asyncio.AbstractEventLoop,
        timing: DeliveryTiming = DeliveryTiming(),
    ) -> None:
        self.client, self.task_queue, self.loop, self.timing = client, task_queue, loop, timing

    def __call__(self, pairs: set[tuple[int, int, int]]) -> None:
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._kick(pairs), self.loop)

    async def _kick(self, pairs: set[tuple[int, int, int]]) -> None:
        results = await asyncio.gather(
            *(
                kick_delivery(self.client, self.task_queue, sub, task, owner, self.timing)
                for sub, task, owner in pairs
            ),
            return_exceptions=True,
        )
        for failed in (r for r in results if isinstance(r, BaseException)):
            log.warning("delivery kick failed (the sweep will start it): %s", failed)
