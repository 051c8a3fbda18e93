"""Signals a person may send by hand (`temporal workflow signal`, the Temporal UI): their
payloads are read strictly here, and one that can't be read is kept where the workflow's
progress query shows it, instead of being dropped with a line in the worker's log.

The workflows take such signals as `*payload` (raw JSON values): a payload typed in the
handler's signature would be decoded by the SDK, which drops a signal it can't decode."""

from collections.abc import Sequence
from datetime import datetime
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow

UNREAD_KEPT: Final = 10  # the newest ones; older ones only in the worker's log

M = TypeVar("M", bound=BaseModel)


class UnreadSignal(BaseModel):
    name: str
    reason: str
    received_at: datetime


class BadSignal(ValueError):
    """The payload doesn't have the signal's shape; the message says what it should be."""


def no_input(payload: Sequence[object]) -> None:
    if payload:
        raise BadSignal(f"takes no input, got {len(payload)} value(s); send it without --input")


def optional_reason(payload: Sequence[object]) -> str | None:
    """Nothing, null or one JSON string (the reason)."""
    if not payload or (len(payload) == 1 and payload[0] is None):
        return None
    if len(payload) == 1 and isinstance(payload[0], str):
        return payload[0] or None
    raise BadSignal("takes one optional JSON string, the reason, e.g. --input '\"not interested\"'")


def one_object(payload: Sequence[object], model: type[M]) -> M:
    """Exactly one JSON object with the model's fields (and no others: a misspelt field would
    otherwise be ignored without a word)."""
    fields = ", ".join(model.model_fields)
    if len(payload) != 1 or not isinstance(payload[0], dict):
        got = f"a JSON {_json_type(payload[0])}" if len(payload) == 1 else f"{len(payload)} values"
        raise BadSignal(f"takes one JSON object with fields {fields}; got {got}")
    unknown = sorted(set(payload[0]) - set(model.model_fields))
    if unknown:
        raise BadSignal(f"unknown field(s) {', '.join(unknown)}; the fields are {fields}")
    try:
        return model.model_validate(payload[0])
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in err.errors()
        )
        raise BadSignal(problems) from None


def _json_type(value: object) -> str:
    for kind, name in ((bool, "boolean"), (str, "string"), (int, "number"), (float, "number"),
                       (list, "array"), (type(None), "null")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return type(value).__name__


class UnreadSignals:
    """The last UNREAD_KEPT signals a workflow could not read (part of its state)."""

    def __init__(self) -> None:
        self.kept: list[UnreadSignal] = []

    def add(self, name: str, err: BadSignal) -> None:
        """Keep it, at the workflow's time, and say so in the worker's log. Call only from a
        workflow's signal handler."""
        at = workflow.now()
        self.kept = [*self.kept, UnreadSignal(name=name, reason=str(err), received_at=at)][
            -UNREAD_KEPT:
        ]
        workflow.logger.warning("signal %s not read: %s", name, err)
