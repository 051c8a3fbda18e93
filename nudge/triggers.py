"""What can trigger a rule, how its `trigger_config` is checked, and what an event matches."""

import json
from typing import Any, Literal, get_args

TriggerType = Literal["activity", "status_change", "cadence", "time", "overdue"]
ACTIVITY_TYPES = (
    "email_opened",
    "email_clicked",
    "email_replied",
    "form_submitted",
    "meeting_booked",
    "call_logged",
    "page_visited",
)
STATUSES = ("lead", "prospect", "active", "inactive", "lost")
CADENCES = ("daily", "weekly", "biweekly", "monthly", "quarterly")
ANY = "*"


def _one_of(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _only(config: dict, keys: set[str], trigger: str) -> None:
    extra = sorted(set(config) - keys)
    if extra:
        raise ValueError(
            f"unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)} for a {trigger} "
            f"trigger; allowed: {', '.join(sorted(keys))}"
        )


def check_config(trigger: str, config: dict) -> dict:
    """The config, normalised, or ValueError saying what is allowed."""
    try:
        json.dumps(config, allow_nan=False)
    except ValueError:
        raise ValueError("trigger_config must not contain NaN or Infinity") from None
    if trigger == "activity":
        _only(config, {"activity_types"}, trigger)
        types = config.get("activity_types")
        if not isinstance(types, list) or not types:
            raise ValueError(
                'activity triggers need {"activity_types": [...]}, a non-empty list of '
                f"{', '.join(ACTIVITY_TYPES)} or {ANY!r}"
            )
        for t in types:
            _one_of(t, (*ACTIVITY_TYPES, ANY), "each activity type")
        return {"activity_types": sorted(set(types))}
    if trigger == "status_change":
        _only(config, {"from_status", "to_status"}, trigger)
        return {
            key: _one_of(config.get(key, ANY), (*STATUSES, ANY), key)
            for key in ("from_status", "to_status")
        }
    if trigger == "cadence":
        _only(config, {"cadence"}, trigger)
        if "cadence" in config:
            _one_of(config["cadence"], CADENCES, "cadence")
        return config
    if trigger == "time":
        _only(config, {"cron", "timezone", "contact_filter", "at"}, trigger)
        if ("cron" in config) == ("at" in config):
            raise ValueError('time triggers need exactly one of "cron" or "at"')
        return config
    if trigger == "overdue":
        _only(config, {"grace_hours"}, trigger)
        grace = config.get("grace_hours", 0)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise ValueError("grace_hours must be a number of hours >= 0")
        return config
    raise ValueError(f"trigger_type must be one of {', '.join(get_args(TriggerType))}")


def matches(
    trigger: str,
    config: dict,
    *,
    activity_type: str | None = None,
    old_status: str | None = None,
    new_status: str | None = None,
) -> bool:
    """Does an event (an activity, or a status change old → new) fire this rule?"""
    if trigger == "activity" and activity_type:
        types = config.get("activity_types", [])
        return ANY in types or activity_type in types
    if trigger == "status_change" and new_status:
        wanted_from, wanted_to = config.get("from_status", ANY), config.get("to_status", ANY)
        return wanted_from in (ANY, old_status) and wanted_to in (ANY, new_status)
    return False
