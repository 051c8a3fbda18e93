"""A live edit's adoption of a new version (pure), by example and by property."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from nudge.core.contact_events import ContactEvent
from nudge.sequences.steps import (
    DefinitionSnapshot,
    StepRecord,
    StepSpec,
    adopt,
    exit_reason,
    planned_due,
)

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def spec(step_id: str, hours: float = 24, anchor: str = "previous_due") -> StepSpec:
    return StepSpec(id=step_id, wait_hours=hours, anchor=anchor, title_template=step_id)  # type: ignore[arg-type]


def snap(steps: list[StepSpec], version: int = 2) -> DefinitionSnapshot:
    return DefinitionSnapshot(
        definition_id=1,
        version=version,
        name="s",
        steps=steps,
        exit_activity_types=["email_replied"],
        exit_statuses=["lost"],
    )


def records(steps: list[StepSpec], passed: int) -> dict[str, StepRecord]:
    out = {s.id: StepRecord(id=s.id, kind=s.kind, version=1) for s in steps}
    for i, s in enumerate(steps[:passed]):
        out[s.id].state, out[s.id].task_id = "created", 100 + i
    return out


def test_removed_skipped_added_after_position_and_changed_wait():
    old = [spec("A", anchor="enrollment"), spec("B"), spec("C"), spec("D")]
    recs = records(old, passed=2)  # A and B made
    new = [spec("A", anchor="enrollment"), spec("X"), spec("B"), spec("D", 48), spec("F")]
    migration = adopt(old, recs, snap(new), T0, 1)
    assert migration.skipped == ["C", "X"]  # C removed; X added before its position (B)
    assert migration.added == ["F"]
    assert migration.changed == ["D"]
    assert [recs[i].state for i in "ABCDFX"] == [
        "created", "created", "skipped", "pending", "pending", "skipped"
    ]  # fmt: skip
    assert recs["A"].task_id == 100 and recs["B"].task_id == 101  # made steps untouched


def test_a_waiting_step_keeps_its_anchor_when_its_wait_changes():
    old = [spec("A", anchor="enrollment"), spec("B")]
    recs = records(old, passed=1)
    recs["B"].state, recs["B"].anchor_at, recs["B"].due_at = "waiting", T0, T0 + timedelta(1)
    adopt(old, recs, snap([old[0], spec("B", 72)]), T0, 1)
    assert (recs["B"].anchor_at, recs["B"].due_at) == (T0, None)  # due recomputed from T0


def test_planned_due_follows_anchors_and_stops_at_a_completion():
    steps = [
        spec("A", 24, "enrollment"),
        spec("B", 48),
        spec("C", 6, "previous_completed"),
        spec("D", 24),
        spec("E", 240, "enrollment"),
    ]
    due = planned_due(steps, T0)
    assert due == [T0 + timedelta(days=1), T0 + timedelta(days=3), None, None,
                   T0 + timedelta(days=10)]  # fmt: skip


def test_exit_reason_reads_the_definition():
    s = snap([spec("A")])
    assert exit_reason(s, ContactEvent(type="email_replied")) == "contact event: email_replied"
    assert exit_reason(s, ContactEvent(type="meeting_booked")) is None
    lost = ContactEvent(type="status_change", status="lost")
    assert exit_reason(s, lost) == "contact status changed to lost"


ids = st.sampled_from(list("ABCDEFGHIJ"))


@given(
    old_ids=st.lists(ids, min_size=1, max_size=8, unique=True),
    new_ids=st.lists(ids, min_size=1, max_size=8, unique=True),
    passed=st.integers(min_value=0, max_value=8),
)
def test_adopt_never_repeats_or_loses_a_made_step(old_ids, new_ids, passed):
    old = [spec(i) for i in old_ids]
    recs = records(old, passed=min(passed, len(old)))
    made = {i: r.task_id for i, r in recs.items() if r.state == "created"}
    adopt(old, recs, snap([spec(i, 12) for i in new_ids]), T0, 1)
    # Made steps stay made, with their task.
    assert {i: r.task_id for i, r in recs.items() if r.state == "created"} == made
    # Every new step has a record; what is left to do is exactly the new steps after the
    # enrollment's position that it has not made, in the new order.
    assert set(new_ids) <= set(recs)
    position = max((n for n, i in enumerate(new_ids) if i in made), default=-1)
    todo = [i for i in new_ids if recs[i].state == "pending"]
    assert todo == [i for i in new_ids[position + 1 :] if i not in made]
    # An old step it had not made and the new version dropped is skipped, never pending.
    for i in set(old_ids) - set(new_ids) - set(made):
        assert recs[i].state == "skipped"


def test_a_step_removed_then_brought_back_runs_and_keeps_the_waiting_step():
    v1 = [spec("a", anchor="enrollment"), spec("b"), spec("c")]
    recs = records(v1, passed=1)  # a made, b waiting
    recs["b"].state = "waiting"
    v2 = [spec("a", anchor="enrollment"), spec("b")]
    adopt(v1, recs, snap(v2, 2), T0, 1)
    assert (recs["b"].state, recs["c"].state) == ("waiting", "skipped")
    migration = adopt(v2, recs, snap(v1, 3), T0, 2)  # the edit undone
    assert (recs["b"].state, recs["c"].state) == ("waiting", "pending")
    assert migration.added == ["c"] and migration.skipped == []
