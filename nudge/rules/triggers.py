"""What can trigger a rule, how its `trigger_config` is checked, and what an event matches."""

import json
import re
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        return _check_time(config)
    if trigger == "overdue":
        _only(config, {"grace_hours"}, trigger)
        grace = config.get("grace_hours", 0)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 8760:
            raise ValueError("grace_hours must be a number of hours from 0 to 8760 (a year)")
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


CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                      "NOV", "DEC")),
    ("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)  # fmt: skip
CRON_PART = re.compile(r"^(\*|[0-9A-Z]+(-[0-9A-Z]+)?)(/[0-9]+)?$")


def _cron(expr: str) -> str:
    """Five fields (minute hour day-of-month month day-of-week), each in its range."""
    fields = expr.upper().split()
    if len(fields) != 5:
        raise ValueError('cron must have five fields, e.g. "0 9 * * MON"')
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            if not CRON_PART.match(part):
                raise ValueError(f"cron {name} {part!r} is not a value, range, * or step")
            for value in re.split(r"[-/]", part.split("/")[0]):
                if value == "*":
                    continue
                number = (
                    names.index(value) + (low if name == "month" else 0) if value in names else None
                )
                if number is None and not value.isdigit():
                    raise ValueError(f"cron {name} {value!r} is not a number or a known name")
                number = int(value) if number is None else number
                if not low <= number <= high:
                    raise ValueError(f"cron {name} {number} is outside {low}-{high}")
    return expr


def _check_time(config: dict) -> dict:
    _only(config, {"cron", "timezone", "contact_filter", "at"}, "time")
    if ("cron" in config) == ("at" in config):
        raise ValueError('time triggers need exactly one of "cron" (e.g. "0 9 * * MON") or "at"')
    out: dict[str, Any] = {}
    if "cron" in config:
        if not isinstance(config["cron"], str):
            raise ValueError('cron must be a string, e.g. "0 9 * * MON"')
        out["cron"] = _cron(config["cron"])
    else:
        try:
            at = datetime.fromisoformat(str(config["at"]))
        except ValueError:
            raise ValueError(
                'at must be an ISO 8601 time, e.g. "2026-12-01T09:00:00+01:00"'
            ) from None
        if at.tzinfo is None:
            raise ValueError("at needs an offset, e.g. +00:00")
        out["at"] = at.isoformat()
    zone = config.get("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown timezone {zone!r}; use an IANA name like Europe/Berlin"
        ) from None
    out["timezone"] = zone
    filters = config.get("contact_filter", {})
    if not isinstance(filters, dict):
        raise ValueError('contact_filter must be an object, e.g. {"status": "lead"}')
    _only(filters, {"status", "cadence"}, "contact_filter of a time")
    if "status" in filters:
        _one_of(filters["status"], STATUSES, "contact_filter.status")
    if "cadence" in filters:
        _one_of(filters["cadence"], CADENCES, "contact_filter.cadence")
    out["contact_filter"] = filters
    return out


def refuse_past_at(config: dict) -> None:
    """A new or changed `at` must lie ahead (an old one may pass while the rule lives on)."""
    if "at" in config and datetime.fromisoformat(config["at"]) <= datetime.now(UTC):
        raise ValueError("trigger_config.at is in the past; a time rule with `at` runs once, later")
