"""What can trigger a rule, the `trigger_config` each trigger takes, and what an event matches.

Each trigger's config is a pydantic model, so the API documents it and checks it; `stored()` is
the JSON kept in the rule's row (the same dict as ever: existing rows read back unchanged).
Cron expressions are checked in nudge.rules.cron. (Over 300 lines: five documented models
and the messages that explain their errors belong together.)"""

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

from nudge.core.types import TIME_ZONES, known_timezone, rfc3339_in_years
from nudge.core.vocabulary import (
    ACTIVITY_TYPES,
    ANY,
    CADENCES,
    CONTACT_STATUSES,
    TRIGGER_TYPES,
    ActivityType,
    Cadence,
    ContactStatus,
    TriggerType,
)
from nudge.rules.cron import CRON_EXAMPLE, check_cron

STATUSES: Final = CONTACT_STATUSES
Anything = Literal["*"]  # ANY, as a type
# A key left out. Not in the documented schema: a key given as null is refused.
Unset = SkipJsonSchema[None]
MAX_GRACE_HOURS: Final = 8760  # a year
# A Schedule's calendar takes the years 2000 to 2100; a one-off `at` must fall inside.
LAST_YEAR: Final = 2099
END_OF_SCHEDULES: Final = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)


def _one_of(value: object, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def known_zone(name: object) -> str:
    """`name` if it is an IANA time zone, else ValueError naming the fix."""
    try:
        if not isinstance(name, str):
            raise TypeError(name)
        known_timezone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        shown = name[:64] if isinstance(name, str) else name
        raise ValueError(
            f"unknown timezone {shown!r}; use an IANA name like Europe/Berlin"
        ) from None
    return name


class ConfigBase(BaseModel):
    """One trigger's `trigger_config`."""

    model_config = ConfigDict(extra="forbid")
    trigger: ClassVar[TriggerType]
    example: ClassVar[str]
    # Messages for a key that is missing (pydantic's own would not name the fix).
    needs: ClassVar[dict[str, str]] = {}

    def stored(self) -> dict[str, Any]:
        """The JSON kept in the rule's row: the keys given, normalised."""
        return self.model_dump(exclude_unset=True)


NEED_ACTIVITY: Final = (
    'activity triggers need {"activity_types": [...]}, a non-empty list of '
    f"{', '.join(ACTIVITY_TYPES)} or {ANY!r}"
)


class ActivityConfig(ConfigBase):
    """trigger_type "activity": fires when one of these activities is recorded for a contact."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"activity_types": ["email_opened", "form_submitted"]}]}
    )
    trigger = "activity"
    example = '{"activity_types": ["email_opened"]}'
    needs = {"activity_types": NEED_ACTIVITY}

    activity_types: list[ActivityType | Anything] = Field(
        min_length=1, description='The activities that fire it; "*" is any. Stored sorted.'
    )

    @field_validator("activity_types", mode="before")
    @classmethod
    def _known(cls, value: object) -> list[str]:
        if not isinstance(value, list) or not value:
            raise ValueError(NEED_ACTIVITY)
        return sorted({_one_of(t, (*ACTIVITY_TYPES, ANY), "each activity type") for t in value})

    def stored(self) -> dict[str, Any]:
        return {"activity_types": list(self.activity_types)}


class StatusChangeConfig(ConfigBase):
    """trigger_type "status_change": fires when a contact's status changes from one status to
    another ("*", the default, matches any)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"from_status": "lead", "to_status": "active"}]}
    )
    trigger = "status_change"
    example = '{"from_status": "lead", "to_status": "active"}'

    from_status: ContactStatus | Anything = Field(ANY, description="The status it leaves.")
    to_status: ContactStatus | Anything = Field(ANY, description="The status it takes.")

    @field_validator("from_status", "to_status", mode="before")
    @classmethod
    def _known(cls, value: object, info: ValidationInfo) -> str:
        return _one_of(value, (*STATUSES, ANY), info.field_name or "status")

    def stored(self) -> dict[str, Any]:
        return {"from_status": self.from_status, "to_status": self.to_status}


class CadenceConfig(ConfigBase):
    """trigger_type "cadence": fires when a contact's recurring check-in comes due (for one
    cadence only, if given)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"cadence": "weekly"}, {}]})
    trigger = "cadence"
    example = '{"cadence": "weekly"}'

    cadence: Cadence | Unset = Field(None, description="Only this cadence; any if left out.")

    @field_validator("cadence", mode="before")
    @classmethod
    def _known(cls, value: object) -> str:
        return _one_of(value, CADENCES, "cadence")


class ContactFilter(BaseModel):
    """Only contacts that match every key given."""

    model_config = ConfigDict(extra="forbid")

    status: ContactStatus | Unset = Field(None, description="Only contacts with this status.")
    cadence: Cadence | Unset = Field(None, description="Only contacts with this cadence.")
    _given: list[str] = PrivateAttr(default_factory=list)  # keys in the order written

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> str:
        return _one_of(value, STATUSES, "contact_filter.status")

    @field_validator("cadence", mode="before")
    @classmethod
    def _cadence(cls, value: object) -> str:
        return _one_of(value, CADENCES, "contact_filter.cadence")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ModelWrapValidatorHandler["ContactFilter"]) -> Any:
        filters = handler(data)
        if isinstance(data, dict):
            filters._given = list(data)
        return filters

    def stored(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self._given}


class TimeConfig(ConfigBase):
    """trigger_type "time": runs on a cron schedule read in `timezone`, or once `at` a time
    (exactly one of the two), for every contact that passes `contact_filter`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"cron": "0 9 * * MON", "timezone": "Europe/Berlin"},
                {"at": "2036-12-01T09:00:00+01:00", "contact_filter": {"status": "lead"}},
            ],
            "oneOf": [{"required": ["cron"]}, {"required": ["at"]}],
        }
    )
    trigger = "time"
    example = '{"cron": "0 9 * * MON", "timezone": "Europe/Berlin"}'

    cron: str | Unset = Field(
        None,
        description="Five fields: minute hour day-of-month month day-of-week, e.g. "
        '"0 9 * * MON" (numbers, *, ranges, lists, steps and JAN/MON names; no seconds field, '
        "L, W, # or ?). It must fire on some date.",
        examples=["0 9 * * MON"],
        # The shape: five fields of what they may hold. Values out of range, backwards ranges
        # and dates that never come are refused with a 422 naming the fix.
        json_schema_extra={"pattern": r"^\s*[0-9A-Za-z*,/-]+(?:\s+[0-9A-Za-z*,/-]+){4}\s*$"},
    )
    at: datetime | Unset = Field(
        None,
        description="Once, at this time: ISO 8601 with an offset, e.g. "
        '"2036-12-01T09:00:00+01:00"; it must lie ahead when set.',
        # The years from next one on are ahead whenever the document is read (built at start).
        json_schema_extra={"pattern": rfc3339_in_years(datetime.now(UTC).year + 1, LAST_YEAR - 1)},
    )
    timezone: str = Field(
        "UTC",
        description="The IANA time zone the cron is read in, e.g. Europe/Berlin.",
        json_schema_extra={"enum": TIME_ZONES},
    )
    contact_filter: ContactFilter = Field(default_factory=ContactFilter)

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: object, info: ValidationInfo) -> str:
        if not isinstance(value, str):
            raise ValueError(f"cron must be a string, e.g. {CRON_EXAMPLE}")
        if info.context and info.context.get("stored_cron") == value:
            return value  # saved under older rules: a change elsewhere in the rule keeps it
        return check_cron(value)

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> datetime:
        try:
            at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(
                'at must be an ISO 8601 time, e.g. "2026-12-01T09:00:00+01:00"'
            ) from None
        if at.tzinfo is None:
            raise ValueError("at needs an offset, e.g. +00:00")
        if at >= END_OF_SCHEDULES:
            raise ValueError(f"at must be before {LAST_YEAR + 1}: Temporal schedules end there")
        return at

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: object) -> str:
        return known_zone(value)

    @field_validator("contact_filter", mode="before")
    @classmethod
    def _filters(cls, value: object) -> object:
        if not isinstance(value, dict | ContactFilter):
            raise ValueError('contact_filter must be an object, e.g. {"status": "lead"}')
        return value

    @model_validator(mode="after")
    def _cron_or_at(self) -> "TimeConfig":
        if (self.cron is None) == (self.at is None):
            raise ValueError(
                f'time triggers need exactly one of "cron" (e.g. {CRON_EXAMPLE}) or "at"'
            )
        return self

    def stored(self) -> dict[str, Any]:
        when: dict[str, Any] = (
            {"cron": self.cron} if self.at is None else {"at": self.at.isoformat()}
        )
        return when | {"timezone": self.timezone, "contact_filter": self.contact_filter.stored()}


GraceHours = (
    Annotated[int, Field(ge=0, le=MAX_GRACE_HOURS)]
    | Annotated[float, Field(ge=0, le=MAX_GRACE_HOURS)]
)


class OverdueConfig(ConfigBase):
    """trigger_type "overdue": fires when one of the contact's tasks has been overdue for
    `grace_hours`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"grace_hours": 24}, {}]})
    trigger = "overdue"
    example = '{"grace_hours": 24}'

    grace_hours: GraceHours | Unset = Field(
        None, description="Hours past due before it fires, 0 to 8760 (a year); 0 if left out."
    )

    @field_validator("grace_hours", mode="before")
    @classmethod
    def _hours(cls, value: object) -> int | float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_GRACE_HOURS  # NaN is not
        ):
            raise ValueError(
                f"grace_hours must be a number of hours from 0 to {MAX_GRACE_HOURS} (a year)"
            )
        return value


TriggerConfig = ActivityConfig | StatusChangeConfig | CadenceConfig | TimeConfig | OverdueConfig
CONFIGS: Final[dict[str, type[ConfigBase]]] = {
    model.trigger: model
    for model in (ActivityConfig, StatusChangeConfig, CadenceConfig, TimeConfig, OverdueConfig)
}


def _trigger_name(trigger: str) -> str:
    return f"{'an' if trigger[0] in 'aeiou' else 'a'} {trigger} trigger"


def _explain(model: type[ConfigBase], err: ValidationError) -> str:
    """One message for all of a config's problems, each naming the fix."""
    messages: list[str] = []
    unknown: dict[tuple[str, ...], list[str]] = {}
    for problem in err.errors():
        loc = tuple(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(loc[-1])
            continue
        messages.append(_message(model, loc, problem))
    for where, keys in unknown.items():
        owner: type[BaseModel] = ContactFilter if where == ("contact_filter",) else model
        whose = _trigger_name(model.trigger)
        if where:
            whose = f"{'.'.join(where)} of {whose}"
        allowed = ", ".join(sorted(owner.model_fields))
        messages.insert(
            0,
            f"unknown key{'s' if len(keys) > 1 else ''} {', '.join(sorted(keys))} for {whose}; "
            f"allowed: {allowed}",
        )
    return ". Also, ".join(dict.fromkeys(messages))


def _message(model: type[ConfigBase], loc: tuple[str, ...], problem: ErrorDetails) -> str:
    where = ".".join(loc)
    if problem["type"] == "missing" and where in model.needs:
        return model.needs[where]
    if problem["type"] in ("value_error", "assertion_error"):
        return problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{where}: {problem['msg']}" if where else problem["msg"]


def parse_config(trigger: str, config: object, context: dict[str, Any] | None = None) -> ConfigBase:
    """The config `trigger` takes (the model, normalised), or ValueError saying what to fix.
    `context` may name a `stored_cron` that was accepted when it was saved."""
    model = CONFIGS.get(trigger)
    if model is None:
        raise ValueError(f"trigger_type must be one of {', '.join(TRIGGER_TYPES)}")
    if isinstance(config, ConfigBase):
        config = config.stored()
    if not isinstance(config, dict):
        raise ValueError(f"trigger_config must be an object, e.g. {model.example}")
    try:
        return model.model_validate(config, context=context)
    except ValidationError as err:
        raise ValueError(_explain(model, err)) from None


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


def refuse_past_at(config: dict) -> None:
    """A new or changed `at` must lie ahead (an old one may pass while the rule lives on)."""
    if "at" in config and datetime.fromisoformat(config["at"]) <= datetime.now(UTC):
        raise ValueError("trigger_config.at is in the past; a time rule with `at` runs once, later")
