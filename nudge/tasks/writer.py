"""The one task writer: every producer (sequence step, rule firing, time rule, campaign step,
cadence check-in, overdue escalation, a task made by hand) writes through here.

A task is written once per idempotency key, and counted for its rule in the same transaction,
so a retried activity, a duplicate delivery or two workers racing leave one row and counters
that never drift."""

from collections.abc import Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import Rule, Task, utcnow
from nudge.integrations.outbox import subscribers, task_event
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.tasks.payloads import CreatedTask, NewTask


def insert_task(session: Session, new: NewTask) -> Task:
    """Add the task inside the caller's transaction (which may hold more rows, e.g. the
    firing it settles). A key already written raises IntegrityError here, at the flush.
    The caller counts the task (`metrics.task_created`) once that transaction committed."""
    return insert_tasks(session, [new])[0]


def insert_tasks(session: Session, news: Sequence[NewTask]) -> list[Task]:
    """insert_task for many in one flush (a sweep's page): one multi-row INSERT, each rule's
    counters moved once, the subscribers asked once per owner."""
    tasks = [
        Task(
            **new.model_dump(exclude={"counts_trigger"}),
            reminder_status="scheduled" if new.reminder_at else "none",
            created_at=utcnow(),
        )
        for new in news
    ]
    session.add_all(tasks)
    session.flush()
    by_rule: dict[int, list[tuple[NewTask, Task]]] = {}
    for new, task in zip(news, tasks, strict=True):
        if new.rule_id is not None:
            by_rule.setdefault(new.rule_id, []).append((new, task))
    for rule_id, made in sorted(by_rule.items()):  # one order: no crosswise waits on rules
        counters: dict = {"tasks_created": Rule.tasks_created + len(made)}
        if triggered := sum(new.counts_trigger for new, _ in made):
            counters |= {"times_triggered": Rule.times_triggered + triggered,
                         "last_fired_at": made[-1][1].created_at}  # fmt: skip
        session.execute(update(Rule).where(Rule.id == rule_id).values(**counters))
    wanted = {o: subscribers(session, o, "task.created") for o in {t.owner_id for t in tasks}}
    for task in tasks:
        if wanted[task.owner_id]:  # in this transaction: the outbox
            task_event(session, task, "task.created", wanted[task.owner_id])
    return tasks


def find_task(sessions: sessionmaker[Session], key: str) -> int | None:
    with sessions() as session:
        return session.scalar(select(Task.id).where(Task.idempotency_key == key))


def write_task_once(
    sessions: sessionmaker[Session],
    new: NewTask,
    also: Callable[[Session], object] | None = None,
) -> CreatedTask:
    """Write the task in a transaction of its own, unless its key was written before: then
    answer with that task (`created=False`) and count nothing. `also` writes more in the same
    transaction, only when the task is new (an escalation's event for the late task).
    Inserted first and looked up only on a clash: a key written before is the rare case (a
    retry), and asking first cost every write a session and a round trip."""
    try:
        with transaction(sessions) as session:
            task_id = insert_task(session, new).id
            if also is not None:
                also(session)
    except IntegrityError:
        # The key was written before (a retry, a duplicate delivery, a racing attempt).
        found = find_task(sessions, new.idempotency_key)
        if found is None:
            raise
        return CreatedTask(task_id=found, created=False)
    metrics.task_created(new.source)  # committed: the row is really there
    return CreatedTask(task_id=task_id, created=True)
