"""Trigger configs: each trigger's model, what a rule's row keeps, the messages that name the fix,
cron read by croniter within what Temporal shares, and a time rule's next runs."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from nudge.core.models import Rule
from nudge.rules.cron import check_cron, next_runs
from nudge.rules.schemas import RuleIn
from nudge.rules.service import merged
from nudge.rules.triggers import (
    ActivityConfig,
    CadenceConfig,
    OverdueConfig,
    StatusChangeConfig,
    TimeConfig,
    matches,
    parse_config,
)

BASE = {"name": "r", "task_title_template": "Follow up with {{contact_name}}"}

# (trigger, config as sent, model, what the rule's row keeps): the same dicts as before models.
VALID: list[tuple[str, Any, type, dict[str, Any]]] = [
    ("activity", {"activity_types": ["email_opened"]}, ActivityConfig,
     {"activity_types": ["email_opened"]}),
    ("activity", {"activity_types": ["page_visited", "email_opened", "page_visited"]},
     ActivityConfig, {"activity_types": ["email_opened", "page_visited"]}),
    ("activity", {"activity_types": ["call_logged", "*"]}, ActivityConfig,
     {"activity_types": ["*", "call_logged"]}),
    ("status_change", {}, StatusChangeConfig, {"from_status": "*", "to_status": "*"}),
    ("status_change", {"to_status": "active"}, StatusChangeConfig,
     {"from_status": "*", "to_status": "active"}),
    ("status_change", {"to_status": "active", "from_status": "lead"}, StatusChangeConfig,
     {"from_status": "lead", "to_status": "active"}),
    ("cadence", {}, CadenceConfig, {}),
    ("cadence", {"cadence": "weekly"}, CadenceConfig, {"cadence": "weekly"}),
    ("time", {"cron": "0 9 * * MON"}, TimeConfig,
     {"cron": "0 9 * * MON", "timezone": "UTC", "contact_filter": {}}),
    ("time", {"contact_filter": {"status": "lead"}, "timezone": "Europe/Berlin",
              "cron": " 0  9 * * mon-fri "}, TimeConfig,
     {"cron": " 0  9 * * mon-fri ", "timezone": "Europe/Berlin",
      "contact_filter": {"status": "lead"}}),
    ("time", {"cron": "*/15 9-17 1,15 JAN-MAR *"}, TimeConfig,
     {"cron": "*/15 9-17 1,15 JAN-MAR *", "timezone": "UTC", "contact_filter": {}}),
    ("time", {"cron": "0 9 29 2 *"}, TimeConfig,  # a leap day fires every four years
     {"cron": "0 9 29 2 *", "timezone": "UTC", "contact_filter": {}}),
    ("time", {"cron": "0 9 * * 7"}, TimeConfig,
     {"cron": "0 9 * * 7", "timezone": "UTC", "contact_filter": {}}),
    ("time", {"at": "2099-12-01T09:00:00Z"}, TimeConfig,
     {"at": "2099-12-01T09:00:00+00:00", "timezone": "UTC", "contact_filter": {}}),
    ("time", {"at": "2099-12-01T09:00:00.250+05:30", "timezone": "Asia/Kolkata",
              "contact_filter": {"cadence": "weekly", "status": "active"}}, TimeConfig,
     {"at": "2099-12-01T09:00:00.250000+05:30", "timezone": "Asia/Kolkata",
      "contact_filter": {"cadence": "weekly", "status": "active"}}),
    ("overdue", {}, OverdueConfig, {}),
    ("overdue", {"grace_hours": 24}, OverdueConfig, {"grace_hours": 24}),
    ("overdue", {"grace_hours": 0.5}, OverdueConfig, {"grace_hours": 0.5}),
    ("overdue", {"grace_hours": 8760}, OverdueConfig, {"grace_hours": 8760}),
]  # fmt: skip


@pytest.mark.parametrize(("trigger", "config", "model", "stored"), VALID)
def test_each_trigger_reads_its_config_and_keeps_the_same_dict(
    trigger: str, config: Any, model: type, stored: dict[str, Any]
) -> None:
    rule = RuleIn.model_validate(BASE | {"trigger_type": trigger, "trigger_config": config})
    # The model trigger_type names, even where another would accept the input too ({}).
    assert type(rule.trigger_config) is model
    assert rule.stored_config() == stored
    dumped = rule.model_dump()["trigger_config"]  # what the service writes to the row
    assert dumped == stored and list(dumped) == list(stored)  # key order too
    assert type(dumped.get("grace_hours")) is type(stored.get("grace_hours"))  # 24 stays an int
    # A row read back (PATCH merges into it) checks again to the same dict.
    again = RuleIn.model_validate(BASE | {"trigger_type": trigger, "trigger_config": stored})
    assert again.stored_config() == stored


def test_a_left_out_config_is_read_as_empty() -> None:
    rule = RuleIn.model_validate(BASE | {"trigger_type": "status_change"})
    assert rule.stored_config() == {"from_status": "*", "to_status": "*"}


# (trigger, config, words the message must hold)
INVALID: list[tuple[str, Any, list[str]]] = [
    ("activity", {}, ["activity triggers need", "non-empty list", "email_opened"]),
    ("activity", {"activity_types": []}, ["non-empty list"]),
    ("activity", {"activity_types": "email_opened"}, ["non-empty list"]),
    ("activity", {"activity_types": ["email_licked"]}, ["email_opened", "got 'email_licked'"]),
    ("activity", {"activity_types": ["email_opened"], "colour": "red"},
     ["unknown key colour for an activity trigger; allowed: activity_types"]),
    ("activity", [], ["trigger_config must be an object", "activity_types"]),
    ("status_change", {"from_status": "customer"}, ["from_status must be one of", "lead"]),
    ("status_change", {"to_status": None}, ["to_status must be one of", "got None"]),
    ("status_change", {"from": "lead", "to": "active"},
     ["unknown keys from, to for a status_change trigger; allowed: from_status, to_status"]),
    ("cadence", {"cadence": "yearly"}, ["cadence must be one of daily", "got 'yearly'"]),
    ("cadence", {"cadence": None}, ["cadence must be one of"]),
    ("time", {}, ['exactly one of "cron"', '"at"']),
    ("time", {"cron": "0 9 * * MON", "at": "2099-01-01T00:00:00+00:00"}, ["exactly one"]),
    ("time", {"cron": 9}, ["cron must be a string"]),
    ("time", {"cron": "0 9 * *"}, ['cron must have five fields, e.g. "0 9 * * MON"']),
    ("time", {"cron": "0 0 9 * * MON"}, ["five fields", "got 6"]),  # seconds: croniter only
    ("time", {"cron": "0 9 * * * 2027"}, ["five fields"]),  # a year field
    ("time", {"cron": "@daily"}, ["@daily", "not supported", "five fields"]),
    ("time", {"cron": "99 9 * * *"}, ["minute 99 is outside 0-59"]),
    ("time", {"cron": "0 24 * * *"}, ["hour 24 is outside 0-23"]),
    ("time", {"cron": "0 9 0 * *"}, ["day of month 0 is outside 1-31"]),
    ("time", {"cron": "0 9 * 13 *"}, ["month 13 is outside 1-12"]),
    ("time", {"cron": "0 9 * * 8"}, ["day of week 8 is outside 0-7"]),
    ("time", {"cron": "*/0 9 * * *"}, ["step must be 1 or more"]),
    ("time", {"cron": "0 9 L * *"}, ["day of month", "'L' is not supported"]),
    ("time", {"cron": "0 9 15W * *"}, ["'W' is not supported"]),
    ("time", {"cron": "0 9 * * 1#2"}, ["'#' is not supported", "names like MON"]),
    ("time", {"cron": "0 9 ? * MON"}, ["'?' is not supported"]),
    ("time", {"cron": "0 9 * * 5L"}, ["'L' is not supported"]),
    ("time", {"cron": "H 9 * * *"}, ["minute", "'H' is not supported"]),
    ("time", {"cron": "0 9 * * FUNDAY"}, ["'FUNDAY' is not supported"]),
    ("time", {"cron": "0 9 31 2 *"}, ["never fires"]),
    ("time", {"cron": "0 9 30 2 *"}, ["never fires"]),
    ("time", {"cron": "0 9 31 4,6 *"}, ["never fires"]),
    ("time", {"at": "tomorrow"}, ["at must be an ISO 8601 time"]),
    ("time", {"at": "2099-12-01T09:00:00"}, ["at needs an offset"]),
    # Found by schemathesis: Temporal refused it ("Year Start is not in range [2000-2100]").
    ("time", {"at": "7357-11-30T06:30:16Z"}, ["at must be before 2100"]),
    ("time", {"at": "2099-12-31T23:30:00-01:00"}, ["at must be before 2100"]),
    ("time", {"cron": "0 9 * * *", "timezone": "Mars/Olympus"},
     ["unknown timezone 'Mars/Olympus'", "Europe/Berlin"]),
    ("time", {"cron": "0 9 * * *", "timezone": 1}, ["unknown timezone 1"]),
    ("time", {"cron": "0 9 * * *", "contact_filter": "leads"},
     ["contact_filter must be an object"]),
    ("time", {"cron": "0 9 * * *", "contact_filter": {"status": "vip"}},
     ["contact_filter.status must be one of", "got 'vip'"]),
    ("time", {"cron": "0 9 * * *", "contact_filter": {"cadence": "yearly"}},
     ["contact_filter.cadence must be one of"]),
    ("time", {"cron": "0 9 * * *", "contact_filter": {"owner": 1}},
     ["unknown key owner for contact_filter of a time trigger; allowed: cadence, status"]),
    ("overdue", {"grace_hours": 8761}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": -1}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": True}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": "24"}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": float("nan")}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": float("inf")}, ["from 0 to 8760"]),
    ("overdue", {"grace_hours": None}, ["from 0 to 8760"]),
]  # fmt: skip


@pytest.mark.parametrize(("trigger", "config", "words"), INVALID)
def test_a_bad_config_is_refused_naming_the_fix(
    trigger: str, config: Any, words: list[str]
) -> None:
    with pytest.raises(ValueError) as direct:
        parse_config(trigger, config)
    for word in words:
        assert word in str(direct.value), str(direct.value)
    with pytest.raises(ValidationError) as err:
        RuleIn.model_validate(BASE | {"trigger_type": trigger, "trigger_config": config})
    [problem] = err.value.errors()
    assert problem["loc"] == ()  # shown for the whole body, as before the models
    assert problem["msg"] == f"Value error, {direct.value}"


def test_every_problem_of_a_config_is_named_at_once() -> None:
    config = {"cron": "0 9 * * *", "timezone": "Mars", "contact_filter": {"status": "vip"}}
    with pytest.raises(ValueError) as err:
        parse_config("time", config | {"colour": "red"})
    message = str(err.value)
    for word in ("unknown key colour", "unknown timezone 'Mars'", "got 'vip'"):
        assert word in message, message


def test_a_bad_config_is_reported_beside_the_other_fields() -> None:
    body = BASE | {"name": "", "trigger_type": "activity", "trigger_config": {}}
    with pytest.raises(ValidationError) as err:
        RuleIn.model_validate(body)
    problems = {problem["loc"]: problem["msg"] for problem in err.value.errors()}
    assert set(problems) == {("name",), ()}
    assert "activity triggers need" in problems[()]


def test_an_unknown_trigger_type_is_the_only_problem() -> None:
    body = BASE | {"trigger_type": "sometimes", "trigger_config": {"activity_types": ["x"]}}
    with pytest.raises(ValidationError) as err:
        RuleIn.model_validate(body)
    assert [problem["loc"] for problem in err.value.errors()] == [("trigger_type",)]


@pytest.mark.parametrize("cron", ["0 9 31 2 *", "0 9 30 2 *", "0 0 30 FEB *"])
def test_a_cron_that_never_fires_is_refused(cron: str) -> None:
    with pytest.raises(ValueError, match="never fires"):
        check_cron(cron)


def test_a_leap_day_cron_fires_every_four_years() -> None:
    assert check_cron("0 9 29 2 *") == "0 9 29 2 *"
    config = parse_config("time", {"cron": "0 9 29 2 *"}).stored()
    runs = next_runs(config, datetime(2027, 1, 1, tzinfo=UTC), count=2)
    assert runs == [datetime(2028, 2, 29, 9, tzinfo=UTC), datetime(2032, 2, 29, 9, tzinfo=UTC)]


def test_next_runs_follow_the_zone_across_daylight_saving_time() -> None:
    """Berlin moves to summer time on 28 March 2027: 09:00 there is 08:00 UTC, then 07:00."""
    config = parse_config("time", {"cron": "0 9 * * MON", "timezone": "Europe/Berlin"}).stored()
    runs = next_runs(config, datetime(2027, 3, 14, 12, tzinfo=UTC))
    assert runs == [
        datetime(2027, 3, 15, 8, tzinfo=UTC),
        datetime(2027, 3, 22, 8, tzinfo=UTC),
        datetime(2027, 3, 29, 7, tzinfo=UTC),
        datetime(2027, 4, 5, 7, tzinfo=UTC),
        datetime(2027, 4, 12, 7, tzinfo=UTC),
    ]
    assert all(run.utcoffset() == timedelta(0) for run in runs)
    # A run exactly at the start is not next.
    assert next_runs(config, runs[0], count=1) == [runs[1]]


def test_next_runs_of_an_at_is_it_while_ahead() -> None:
    config = parse_config("time", {"at": "2027-06-01T09:00:00+02:00"}).stored()
    at = datetime(2027, 6, 1, 7, tzinfo=UTC)
    assert next_runs(config, at - timedelta(seconds=1)) == [at]
    assert next_runs(config, at) == []


def test_next_runs_of_a_stored_cron_that_never_fires_is_empty() -> None:
    """A row saved before such a cron was refused still previews."""
    config = {"cron": "0 9 31 2 *", "timezone": "UTC", "contact_filter": {}}
    assert next_runs(config, datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_matches_reads_the_stored_dict() -> None:
    activity = parse_config("activity", {"activity_types": ["email_opened"]}).stored()
    assert matches("activity", activity, activity_type="email_opened")
    assert not matches("activity", activity, activity_type="call_logged")
    change = parse_config("status_change", {"to_status": "active"}).stored()
    assert matches("status_change", change, old_status="lead", new_status="active")
    assert not matches("status_change", change, old_status="lead", new_status="lost")


def test_the_schema_documents_each_trigger() -> None:
    field = RuleIn.model_json_schema()["properties"]["trigger_config"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in field["anyOf"]}
    assert names == {
        "ActivityConfig", "StatusChangeConfig", "CadenceConfig", "TimeConfig", "OverdueConfig",
    }  # fmt: skip
    schemas = RuleIn.model_json_schema()["$defs"]
    for name in names:
        assert schemas[name]["additionalProperties"] is False
        assert schemas[name]["description"].startswith("trigger_type")


@pytest.mark.parametrize(
    ("cron", "first_runs"),
    [
        # Temporal needs day of month AND weekday to match: only Fridays the 13th.
        ("0 9 13 * FRI", ["2027-08-13", "2028-10-13"]),
        ("0 9 29 2 *", ["2028-02-29", "2032-02-29"]),
    ],
)
def test_previews_read_crons_as_temporal_does(cron: str, first_runs: list[str]) -> None:
    after = datetime(2026, 12, 1, tzinfo=UTC)
    runs = next_runs({"cron": cron, "timezone": "UTC"}, after, 2)
    assert [r.date().isoformat() for r in runs] == first_runs


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("0 9 31 2 MON", "never fires"),  # croniter's classic OR would fire every Monday
        ("0 9 * * 5-1", "runs backwards"),  # croniter wraps it; Temporal reads only 5
    ],
)
def test_crons_temporal_reads_otherwise_are_refused(cron: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_cron(cron)


def test_an_old_rule_with_a_cron_refused_today_can_still_be_changed() -> None:
    """Saved before crons were checked for firing: pausing or renaming it must still work;
    sending that cron again is checked like any new one."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old = Rule(id=7, owner_id=1, name="Leap", trigger_type="time",
               trigger_config={"cron": "0 9 31 2 *", "timezone": "UTC", "contact_filter": {}},
               task_title_template="Hi", task_description_template="", task_priority="medium",
               delay_hours=0, reminder_offset_hours=None, is_active=True, times_triggered=0,
               tasks_created=0, created_at=now, updated_at=now)  # fmt: skip
    paused = merged(old, {"is_active": False})
    assert paused.is_active is False
    assert paused.stored_config() == old.trigger_config
    with pytest.raises(ValidationError, match="never fires"):
        merged(old, {"trigger_config": dict(old.trigger_config)})
    assert next_runs(old.trigger_config, now) == []
