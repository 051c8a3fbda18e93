"""The rule form: HTML form fields to a checked RuleIn and back, with errors per field."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.pages.forms import PLACEMENTS, number_text, problem_message, typed_number
from nudge.core.models import Rule
from nudge.core.priority import as_text, from_text, joined
from nudge.core.vocabulary import PRIORITIES
from nudge.rules.schemas import RuleIn
from nudge.rules.triggers import ACTIVITY_TYPES, ANY, CADENCES, STATUSES

TRIGGERS = {
    "activity": "An activity (email opened, form submitted …)",
    "status_change": "A contact's status changes",
    "time": "A time (cron, or once at a date)",
    "cadence": "A recurring cadence comes due",
    "overdue": "A task goes overdue",
}
TEXT_FIELDS = (
    "name", "trigger_type", "from_status", "to_status", "cron", "at", "timezone",
    "filter_status", "filter_cadence", "cadence", "grace_hours", "task_title_template",
    "task_description_template", "task_priority", "delay_hours", "delay_business_days",
    "placement", "reminder_offset_hours", "contact_id",
)  # fmt: skip
CHOICES = {
    "activity_types": (ANY, *ACTIVITY_TYPES),
    "statuses": (ANY, *STATUSES),
    "filter_statuses": ("", *STATUSES),
    "cadences": ("", *CADENCES),
    "priorities": PRIORITIES,
    "placements": PLACEMENTS,
}


@dataclass
class RuleForm:
    """What the form shows: the values as typed, and a message per field that is wrong."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> "RuleForm":
        return cls(
            {
                "name": "", "trigger_type": "activity", "activity_types": ["email_opened"],
                "from_status": ANY, "to_status": ANY, "timezone": "UTC", "task_priority": "medium",
                "task_title_template": "Follow up with {{contact_name}}",
                "task_description_template": "", "delay_hours": "0",
                "delay_business_days": "", "placement": "anytime",
                "reminder_offset_hours": "", "is_active": True,
            }
        )  # fmt: skip

    @classmethod
    def from_rule(cls, rule: Rule) -> "RuleForm":
        config = rule.trigger_config or {}
        filters = config.get("contact_filter", {})
        values: dict[str, Any] = {
            "name": rule.name,
            "trigger_type": rule.trigger_type,
            "activity_types": config.get("activity_types", []),
            "from_status": config.get("from_status", ANY),
            "to_status": config.get("to_status", ANY),
            "cron": config.get("cron", ""),
            "timezone": config.get("timezone", "UTC"),
            "filter_status": filters.get("status", ""),
            "filter_cadence": filters.get("cadence", ""),
            "cadence": config.get("cadence", ""),
            "grace_hours": number_text(config.get("grace_hours")),
            "task_title_template": rule.task_title_template,
            "task_description_template": rule.task_description_template,
            # by score: the object as JSON text, kept as it is when saved unchanged
            "task_priority": as_text(joined(rule.task_priority, rule.priority_by_score)),
            "delay_hours": number_text(rule.delay_hours),
            "delay_business_days": number_text(rule.delay_business_days),
            "placement": rule.placement or "anytime",
            "reminder_offset_hours": number_text(rule.reminder_offset_hours),
            "is_active": rule.is_active,
        }
        if "at" in config:  # shown as a wall-clock time in the rule's zone
            at = datetime.fromisoformat(config["at"]).astimezone(_zone(values["timezone"]))
            values["at"] = at.strftime("%Y-%m-%dT%H:%M")
        return cls(values)

    @classmethod
    def from_post(cls, form: FormData) -> "RuleForm":
        values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in TEXT_FIELDS}
        values["activity_types"] = [str(v) for v in form.getlist("activity_types")]
        values["is_active"] = form.get("is_active") == "on"
        return cls(values)

    def checked(self) -> RuleIn | None:
        """The rule, or None with `errors` filled in (keyed by form field)."""
        v = self.values
        body: dict[str, Any] = {
            "name": v["name"],
            "trigger_type": v["trigger_type"],
            "task_title_template": v["task_title_template"],
            "task_description_template": v["task_description_template"],
            "task_priority": from_text(v["task_priority"]),
            "delay_hours": typed_number(v["delay_hours"] or "0"),
            "placement": v["placement"] or "anytime",
            "reminder_offset_hours": (
                typed_number(v["reminder_offset_hours"]) if v["reminder_offset_hours"] else None
            ),
            "is_active": v["is_active"],
        }
        if v["delay_business_days"]:  # left empty: the delay in hours counts
            body["delay_business_days"] = typed_number(v["delay_business_days"])
        try:
            body["trigger_config"] = self._config()
        except ValueError as err:  # the form's own fields (a date, a number) don't read
            self.errors["trigger_config"] = str(err)
        try:  # the config is checked by its trigger's model, its problem beside the others
            rule = RuleIn.model_validate(body)
        except ValidationError as err:
            for problem in err.errors():
                where = str(problem["loc"][0]) if problem["loc"] else "trigger_config"
                self.errors.setdefault(where, problem_message(problem, where))
            return None
        return None if self.errors else rule

    def _config(self) -> dict[str, Any]:
        v = self.values
        trigger = v["trigger_type"]
        if trigger == "activity":
            return {"activity_types": v["activity_types"]}
        if trigger == "status_change":
            return {"from_status": v["from_status"] or ANY, "to_status": v["to_status"] or ANY}
        if trigger == "cadence":
            return {"cadence": v["cadence"]} if v["cadence"] else {}
        if trigger == "overdue":
            if not v["grace_hours"]:
                return {}
            try:
                return {"grace_hours": float(v["grace_hours"])}
            except ValueError:
                raise ValueError("grace hours must be a number, e.g. 24") from None
        if trigger == "time":
            zone = v["timezone"] or "UTC"
            config: dict[str, Any] = {"timezone": zone}
            if v["cron"] and v["at"]:
                raise ValueError("give a cron or a date, not both")
            if v["cron"]:
                config["cron"] = v["cron"]
            elif v["at"]:
                try:
                    local = datetime.fromisoformat(v["at"])
                except ValueError:
                    raise ValueError("the date must look like 2026-12-01T09:00") from None
                config["at"] = local.replace(tzinfo=_zone(zone)).isoformat()
            filters = {
                key: v[f"filter_{key}"] for key in ("status", "cadence") if v[f"filter_{key}"]
            }
            if filters:
                config["contact_filter"] = filters
            return config
        return {}

    def sample_event(self, rule: RuleIn) -> dict[str, str | None]:
        """The event a preview imagines: the first one this rule's trigger would match."""
        config = rule.stored_config()
        if rule.trigger_type == "activity":
            named = [t for t in config.get("activity_types", []) if t != ANY]
            return {"activity_type": named[0] if named else "email_opened"}
        if rule.trigger_type == "status_change":
            old = config.get("from_status", ANY)
            new = config.get("to_status", ANY)
            return {
                "old_status": "lead" if old == ANY else old,
                "new_status": "active" if new == ANY else new,
            }
        return {}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like Europe/Berlin"
        ) from None
