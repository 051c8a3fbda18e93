"""A task's priority, plain or picked by the contact's score.

`{"by_score": [[80, "urgent"], [50, "high"], [20, "medium"]], "else": "low"}`: the first
threshold the contact's score reaches (score >= threshold) picks the priority; below all of
them, or a contact without a score, `else`. Pure: the API checks it, the activities resolve it
when they write a task, and the workflow sandbox carries it inside a step."""

import json
from itertools import pairwise
from typing import Annotated, Any, Final, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from nudge.core.types import Integer
from nudge.core.vocabulary import PRIORITIES, Priority

MAX_THRESHOLDS: Final = 10
EXAMPLE: Final = '[[80, "urgent"], [50, "high"]]'

# A contact's score, and a threshold it is compared with. Bounds before Integer: after a
# BeforeValidator pydantic documents them as `ge`/`le`, not JSON Schema.
Score = Annotated[int, Field(ge=0, le=100), Integer]
Threshold = tuple[Score, Priority]


def _descending(pairs: list[Threshold]) -> list[Threshold]:
    """What JSON Schema can't say: each threshold below the one before it."""
    for (above, _), (below, _) in pairwise(pairs):
        if below == above:
            raise ValueError(
                f"threshold {below} is given twice; thresholds must be strictly descending, "
                f"e.g. {EXAMPLE}"
            )
        if below > above:
            raise ValueError(
                f"thresholds must be strictly descending, e.g. {EXAMPLE} ({below} comes "
                f"after {above})"
            )
    return pairs


class ByScore(BaseModel):
    """A priority picked by the contact's score (0-100): the first `[threshold, priority]`
    pair whose threshold the score reaches (score >= threshold) gives the priority; below all
    of them, or a contact without a score, `else`. Thresholds strictly descending (the server
    checks it: 422 naming `by_score`)."""

    # Always the key "else" (a Python keyword, so the field has another name): in the API, in
    # a stored step and in a Temporal payload alike.
    model_config = ConfigDict(
        extra="forbid", validate_by_name=False, validate_by_alias=True, serialize_by_alias=True
    )

    by_score: Annotated[
        list[Threshold],
        Field(
            min_length=1,
            max_length=MAX_THRESHOLDS,
            description=f"1 to {MAX_THRESHOLDS} [threshold, priority] pairs, thresholds 0-100 "
            f"strictly descending, e.g. {EXAMPLE}.",
        ),
        AfterValidator(_descending),
    ]
    otherwise: Priority = Field(
        "low", alias="else", description="Below every threshold, or without a score."
    )

    def pick(self, score: int | None) -> Priority:
        if score is not None:
            for threshold, priority in self.by_score:
                if score >= threshold:
                    return priority
        return self.otherwise

    def stored(self) -> dict[str, Any]:
        """As JSON keeps it: {"by_score": [[80, "urgent"], …], "else": "low"}."""
        return {"by_score": [[t, p] for t, p in self.by_score], "else": self.otherwise}


PLAIN_OR_BY_SCORE = (
    "Input should be 'low', 'medium', 'high' or 'urgent', or by score, e.g. "
    f'{{"by_score": {EXAMPLE}, "else": "low"}}'
)


def _plain_or_by_score(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One branch, picked by the input's shape, so a problem is named once and where it is
    (`task_priority.by_score`), not once for each member of the union."""
    if isinstance(value, ByScore):
        return value
    if isinstance(value, dict):
        return ByScore.model_validate(value)  # its errors, under this field
    if isinstance(value, str) and value in PRIORITIES:
        return value
    raise PydanticCustomError("priority", PLAIN_OR_BY_SCORE)


# A rule's or a custom step's priority, as the API takes and answers it.
PriorityOrByScore = Annotated[Priority | ByScore, WrapValidator(_plain_or_by_score)]


def parse(priority: Priority | ByScore | dict[str, Any] | str) -> Priority | ByScore:
    """A stored or given priority read back; ValueError (a ValidationError) when it is no
    priority."""
    if isinstance(priority, ByScore):
        return priority
    if isinstance(priority, dict):
        return ByScore.model_validate(priority)
    if priority in PRIORITIES:
        return cast(Priority, priority)
    raise ValueError(f"unknown priority {priority!r}; {PLAIN_OR_BY_SCORE}")


def resolve(priority: Priority | ByScore | dict[str, Any] | str, score: int | None) -> Priority:
    """The plain priority a task gets for a contact with this score (None: no score)."""
    given = parse(priority)
    return given.pick(score) if isinstance(given, ByScore) else given


def stored(priority: Priority | ByScore) -> str | dict[str, Any]:
    """As a stored step keeps it: the plain string, or the object."""
    return priority.stored() if isinstance(priority, ByScore) else priority


def split(priority: Priority | ByScore) -> tuple[Priority, list[list[Any]] | None]:
    """As a rule's row keeps it: (task_priority, priority_by_score), the first the `else`
    when by score, the second None when plain."""
    if isinstance(priority, ByScore):
        return priority.otherwise, priority.stored()["by_score"]
    return priority, None


def joined(plain: Priority, by_score: list[list[Any]] | None) -> Priority | ByScore:
    """A rule's row's two columns as one priority (split's inverse)."""
    if not by_score:
        return plain
    return ByScore.model_validate({"by_score": by_score, "else": plain})


def as_text(priority: Priority | ByScore) -> str:
    """For a form's one text field: the plain priority, or the object as JSON."""
    if isinstance(priority, ByScore):
        return json.dumps(priority.stored())
    return priority


def from_text(text: str) -> str | dict[str, Any]:
    """as_text read back: a JSON object's text as the object, anything else as it is (to be
    checked as a priority)."""
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
    return text
