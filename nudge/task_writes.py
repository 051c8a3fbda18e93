"""Writing a task exactly once, and counting it for the rule that made it."""

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nudge.db import transaction
from nudge.models import Rule, Task, utcnow


def add_task_once(sessions: sessionmaker[Session], task: Task, rule_id: int | None = None) -> bool:
    """Insert unless a task with its idempotency_key exists (then False). The rule's
    `times_triggered` and `tasks_created` move in the same transaction, so they never drift."""
    task.rule_id = rule_id
    task.created_at = task.created_at or utcnow()
    try:
        with transaction(sessions) as session:
            session.add(task)
            session.flush()  # the unique key says "already written" right here
            if rule_id is not None:
                session.execute(
                    update(Rule)
                    .where(Rule.id == rule_id)
                    .values(
                        times_triggered=Rule.times_triggered + 1,
                        tasks_created=Rule.tasks_created + 1,
                        last_fired_at=task.created_at,
                    )
                )
        return True
    except IntegrityError:
        return False
