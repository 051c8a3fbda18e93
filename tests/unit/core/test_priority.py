"""A priority by score: the thresholds table at its boundaries, and the mappings refused."""

import pytest
from pydantic import TypeAdapter, ValidationError

from nudge.core.priority import (
    ByScore,
    PriorityOrByScore,
    as_text,
    from_text,
    joined,
    resolve,
    split,
    stored,
)
from nudge.sequences.steps import StepSpec

MAPPING = {"by_score": [[80, "urgent"], [50, "high"], [20, "medium"]], "else": "low"}
EITHER = TypeAdapter(PriorityOrByScore)


@pytest.mark.parametrize(
    ("score", "priority"),
    [
        (100, "urgent"),
        (80, "urgent"),
        (79, "high"),
        (50, "high"),
        (49, "medium"),
        (20, "medium"),
        (19, "low"),
        (0, "low"),
        (None, "low"),
    ],
)
def test_the_first_threshold_the_score_reaches_picks_it(score, priority):
    assert resolve(MAPPING, score) == priority
    assert resolve(ByScore.model_validate(MAPPING), score) == priority


def test_a_threshold_of_zero_catches_every_score_but_none():
    mapping = {"by_score": [[0, "high"]], "else": "medium"}
    assert [resolve(mapping, s) for s in (0, 100, None)] == ["high", "high", "medium"]


def test_else_defaults_to_low_and_a_plain_priority_ignores_the_score():
    assert resolve({"by_score": [[90, "urgent"]]}, 10) == "low"
    assert [resolve("high", s) for s in (0, 99, None)] == ["high"] * 3


BAD = [
    ("unsorted", [[50, "high"], [80, "urgent"]], "by_score", "strictly descending"),
    ("duplicate", [[80, "urgent"], [80, "high"]], "by_score", "given twice"),
    ("over-100", [[101, "urgent"]], "by_score.0.0", "less than or equal to 100"),
    ("negative", [[-1, "urgent"]], "by_score.0.0", "greater than or equal to 0"),
    ("unknown-priority", [[80, "critical"]], "by_score.0.1", "'urgent'"),
    ("empty", [], "by_score", "at least 1"),
    ("eleven", [[100 - i, "high"] for i in range(11)], "by_score", "at most 10"),
    ("bool-threshold", [[True, "urgent"]], "by_score.0.0", "valid integer"),
    ("text-threshold", [["80", "urgent"]], "by_score.0.0", "valid integer"),
    ("fraction", [[80.5, "urgent"]], "by_score.0.0", "valid integer"),
    ("one-item", [[80]], "by_score.0.1", "required"),
]


@pytest.mark.parametrize(("pairs", "where", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_mappings_are_refused_naming_where(pairs, where, words):
    with pytest.raises(ValidationError) as caught:
        EITHER.validate_python({"by_score": pairs, "else": "low"})
    errors = caught.value.errors()
    assert [".".join(map(str, e["loc"])) for e in errors] == [where]
    assert words in errors[0]["msg"]
    with pytest.raises(ValueError):  # resolve reads only a good mapping
        resolve({"by_score": pairs, "else": "low"}, 50)


def test_the_ordering_message_shows_an_example():
    with pytest.raises(ValidationError) as caught:
        ByScore.model_validate({"by_score": [[20, "low"], [50, "high"]]})
    assert 'e.g. [[80, "urgent"], [50, "high"]]' in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["asap", 3, None, ["urgent"], {"by_score": [[80, "urgent"]], "otherwise": "low"}],
)
def test_anything_else_is_one_error(value):
    with pytest.raises(ValidationError) as caught:
        EITHER.validate_python(value)
    assert len(caught.value.errors()) == 1
    with pytest.raises(ValueError):
        resolve(value, 50)


def test_stored_forms_round_trip():
    by_score = ByScore.model_validate(MAPPING)
    assert stored(by_score) == MAPPING and stored("high") == "high"
    assert split(by_score) == ("low", MAPPING["by_score"]) and split("high") == ("high", None)
    assert joined("low", MAPPING["by_score"]) == by_score and joined("high", None) == "high"
    assert by_score.model_dump(mode="json") == MAPPING
    assert from_text(as_text(by_score)) == MAPPING and from_text(as_text("high")) == "high"
    assert from_text("{not json") == "{not json"


def test_a_step_in_a_workflow_payload_reads_a_plain_string_as_before_and_carries_the_object():
    plain = StepSpec.model_validate_json('{"id": "a", "wait_hours": 1, "title_template": "t"}')
    assert plain.priority == "medium"
    old = StepSpec.model_validate_json(
        '{"id": "a", "wait_hours": 1, "title_template": "t", "priority": "urgent"}'
    )
    assert old.priority == "urgent"
    step = StepSpec(id="b", wait_hours=1, title_template="t", priority=MAPPING)  # type: ignore[arg-type]
    again = StepSpec.model_validate_json(step.model_dump_json())
    assert again == step and isinstance(again.priority, ByScore)
    assert '"else":"low"' in step.model_dump_json()
