"""Log output: text (the default, what `nudge up` prints) or, with ``NUDGE_LOG_FORMAT=json``,
one JSON object per line for log collectors.

A JSON line holds ``time``, ``level``, ``logger`` and ``message``, then what is known of where
it was said: ``workflow_id``, ``run_id``, ``workflow_type``, ``activity``, ``activity_id``,
``attempt`` (from the details Temporal's ``workflow.logger`` and ``activity.logger`` attach),
``trace_id``/``span_id`` when tracing is on, and the call's ``extra`` fields (``owner_id``…)."""

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

from nudge.platform.settings import Settings

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# What every LogRecord has; anything else on a record came from a call's `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# Temporal's detail dicts (flattened below), and uvicorn's colored copy of its message.
_SKIP = frozenset(
    {"temporal_workflow", "temporal_activity", "workflow_info", "activity_info", "color_message"}
)


def temporal_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow and activity a record was made in, flat."""
    fields: dict[str, Any] = {}
    details = getattr(record, "temporal_activity", None)
    if isinstance(details, Mapping):
        fields |= {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("workflow_run_id"),
            "workflow_type": details.get("workflow_type"),
            "activity": details.get("activity_type"),
            "activity_id": details.get("activity_id"),
            "attempt": details.get("attempt"),
        }
    details = getattr(record, "temporal_workflow", None)
    if isinstance(details, Mapping):
        fields |= {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("run_id"),
            "workflow_type": details.get("workflow_type"),
            "attempt": details.get("attempt"),
            "update_id": details.get("update_id"),
            "update_name": details.get("update_name"),
        }
    return {key: value for key, value in fields.items() if value is not None}


def _message(record: logging.LogRecord) -> str:
    """The message without the "({...details...})" Temporal's loggers append: in JSON the
    details are fields of their own."""
    message = record.getMessage()
    for attr in ("temporal_activity", "temporal_workflow"):
        details = getattr(record, attr, None)
        if isinstance(details, Mapping):
            message = message.removesuffix(f" ({details})")
    return message


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        entry |= temporal_fields(record)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry |= {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}"}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _SKIP and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(
    settings: Settings, *, level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """Root logging for a Nudge process: text or JSON lines (``settings.log_format``) on
    stderr (or ``stream``), replacing any handler already there."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(settings.log_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class RedactFeedTokens(logging.Filter):
    """The calendar feed's URL is its secret: uvicorn's access lines show its path as
    /api/calendar/***.ics."""

    FEED = re.compile(r"/api/calendar/[^/?\s]+\.ics")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.FEED.sub("/api/calendar/***.ics", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def redact_feed_tokens() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactFeedTokens) for f in access.filters):
        access.addFilter(RedactFeedTokens())
