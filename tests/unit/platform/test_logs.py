"""NUDGE_LOG_FORMAT: text stays as it was; json is one object per line, and a line said inside
an activity carries its workflow, run, activity and owner."""

import dataclasses
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.tasks import TaskActivities
from nudge.platform.logs import configure_logging
from nudge.platform.settings import Settings
from nudge.tasks.payloads import NewTask
from tests.conftest import Tenant


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Where configure_logging writes; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(output: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_text_is_the_default_and_unchanged(output, monkeypatch):
    monkeypatch.delenv("NUDGE_LOG_FORMAT", raising=False)
    configure_logging(Settings(), stream=output)
    logging.getLogger("nudge.worker").info("worker polling task queue %r", "nudge")
    logging.getLogger("nudge.worker").debug("not shown at INFO")
    assert output.getvalue() == "INFO nudge.worker: worker polling task queue 'nudge'\n"


def test_json_lines_parse(output, monkeypatch):
    monkeypatch.setenv("NUDGE_LOG_FORMAT", "json")
    settings = Settings()
    assert settings.log_format == "json"
    configure_logging(settings, stream=output)
    log = logging.getLogger("nudge.test")
    log.info('two\nlines with "quotes" and ünïcode', extra={"owner_id": 7})
    log.warning("when %s", datetime(2027, 1, 2, tzinfo=UTC))
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")

    first, second, third = _lines(output)  # exactly one line each, every one parses
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "nudge.test"
    assert first["message"] == 'two\nlines with "quotes" and ünïcode'
    assert first["owner_id"] == 7
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second == second | {"level": "WARNING", "message": "when 2027-01-02 00:00:00+00:00"}
    assert third["level"] == "ERROR" and "ValueError: boom" in third["exception"]
    assert "workflow_id" not in first  # said outside any workflow


def test_a_task_written_in_an_activity_names_its_workflow(
    output, sessions: sessionmaker[Session], tenant: Tenant
):
    """The real line of the task-writing activity, run as Temporal runs activities."""
    configure_logging(Settings(log_format="json"), stream=output)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        activity_type="create_task",
        workflow_id="sequence-42",
        workflow_run_id="run-1",
        workflow_type="SequenceWorkflow",
    )
    new = NewTask(
        idempotency_key=f"test-{uuid.uuid4()}",
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        source="sequence:gentle",
        title="Call back",
        due_at=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
    )
    activities = TaskActivities(sessions)
    first = env.run(activities.create_task, new)
    again = env.run(activities.create_task, new)
    assert (first.created, again.created) == (True, False)

    written, repeated = (e for e in _lines(output) if e["logger"] == "temporalio.activity")
    assert written == written | {
        "message": "task written",  # Temporal's "({...details})" suffix: fields instead
        "workflow_id": "sequence-42",
        "run_id": "run-1",
        "workflow_type": "SequenceWorkflow",
        "activity": "create_task",
        "attempt": 1,
        "owner_id": tenant.owner_id,
        "task_id": first.task_id,
        "source": "sequence:gentle",
    }
    assert "temporal_activity" not in written
    assert repeated["message"] == "task already written"
    assert repeated["task_id"] == first.task_id and repeated["workflow_id"] == "sequence-42"


def test_workflow_logger_details_are_flattened(output):
    """workflow.logger attaches `temporal_workflow` (and appends it to the message)."""
    configure_logging(Settings(log_format="json"), stream=output)
    details = {
        "attempt": 1,
        "namespace": "default",
        "run_id": "run-9",
        "task_queue": "nudge",
        "workflow_id": "rule-3-event-8",
        "workflow_type": "RuleFiringWorkflow",
    }
    logging.getLogger("temporalio.workflow").info(
        "firing skipped (%s)", details, extra={"temporal_workflow": details, "owner_id": 3}
    )
    (entry,) = _lines(output)
    assert entry == entry | {
        "message": "firing skipped",
        "workflow_id": "rule-3-event-8",
        "run_id": "run-9",
        "workflow_type": "RuleFiringWorkflow",
        "owner_id": 3,
    }
    assert "activity" not in entry and "temporal_workflow" not in entry


def test_access_lines_never_show_a_feed_token():
    import logging

    from nudge.platform.logs import RedactFeedTokens

    record = logging.makeLogRecord(
        {
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": ("127.0.0.1:5", "GET", "/api/calendar/s3cr3t-T0ken.ics?x=1", "1.1", 200),
        }
    )
    assert RedactFeedTokens().filter(record)
    line = record.getMessage()
    assert "s3cr3t" not in line and "/api/calendar/***.ics?x=1" in line
