"""What JSON Schema can't say, taught to schemathesis's generator (SCHEMATHESIS_HOOKS).

Each rule below is stated in the operation's description in /openapi.json and has its own
422 test; only data schemathesis generates as *valid* is adjusted, so the negative phase still
sends what breaks the schema. The adjustment keeps the generated case and repairs the one
cross-field or semantic rule, so every other part of the case is still tested as drawn.

- stats: `since` before `until` (tests/api/test_stats_api.py)
- campaigns: step `order`s unique, compared as numbers (tests/api/test_openapi_truth.py)
- rules: a `cron` that is valid and fires on some date, in a rule and in a draft's preview
  (tests/unit/rules/test_triggers.py);
  PATCH's `trigger_type`/`trigger_config` must fit the stored rule, which the document can't
  know (tests/api/test_rules_api.py)
- a priority `by_score` (a rule's `task_priority`, a definition step's `priority`): thresholds
  strictly descending, each once (tests/api/test_score_priority_api.py)
- templates of rules and definition steps: Jinja2 that parses and names only the variables
  offered (the document states the length); one that doesn't becomes plain text
  (tests/api/test_rules_api.py, tests/api/test_definitions_api.py)
- webhook and task event subscriptions: a URL the delivery can reach as written
  (tests/unit/reminders/test_ssrf.py); a replay's `since` before its `until`
  (tests/e2e/test_task_events.py)
- calendar: a day's windows neither overlapping nor inverted, some day open, a holiday
  country (and subdivision) the holidays package knows (tests/api/test_calendar_api.py)
- integrations: a dry run's payload must be what the connection's CRM sends, which the
  document can't know: one payload every provider reads stands in
  (tests/api/test_integrations_api.py)
- not a rule but the generator's own slip: an inferred link that reads a null field (GET
  /api/tasks/ → a task's `batch_id`) sends "None" as an integer path parameter (seed 1)
- a rule's preview and a campaign's enrollment: contacts that exist (NUDGE_CONTRACT_CONTACT,
  the run's own). Both answer 404 for an unknown one, which the stateful phase would read as
  the rule or campaign it just created being gone (ST302); with a real contact, a 404 there
  does mean that (tests/api/test_openapi_truth.py, tests/e2e/test_campaigns_time_skipping.py);
  the same for a sequence definition's preview, saved or draft
  (tests/api/test_definitions_api.py)
- sequence definitions: each step's `id` its own (JSON Schema's uniqueItems compares whole
  steps, not one key of them); the document states the rest (the first step's anchor, max_wait
  only after a completion) (tests/api/test_definitions_api.py)

Not a rule but the fuzzer's own process: CPython 3.11 keeps ast.parse's recursion count per
interpreter, not per thread (gh-106905), and Hypothesis parses a module's source to describe
a lambda; two workers doing it at once raised "SystemError: AST constructor recursion depth
mismatch" in the coverage phase. Here ast.parse runs one call at a time.
"""

import ast
import functools
import os
import re
import threading
from datetime import datetime, timedelta
from typing import Any

import schemathesis

from nudge.calendar.closures import check_region
from nudge.calendar.timing import validate_windows
from nudge.core.templating import SEQUENCE_VARIABLES, VARIABLES, TemplateProblem
from nudge.core.templating import validate as validate_template
from nudge.reminders.webhooks import internal_target
from nudge.rules.cron import check_cron

CRON = "0 9 * * MON"
UNDER_CREATED = re.compile(
    r"^/api/(task-automation/rules/\{rule_id\}/preview|campaigns/\{campaign_id\}/enroll"
    r"|task-automation/sequences/definitions/(\{definition_id\}/)?preview)/$"
)
DEFINITIONS = "/api/task-automation/sequences/definitions/"
WEBHOOK = "https://hooks.example.com/nudge"
SUBSCRIPTIONS = "/api/webhooks/subscriptions/"
PLAIN = "Follow up"


def _one_at_a_time(parse: Any) -> Any:
    lock = threading.Lock()

    @functools.wraps(parse)
    def parse_alone(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    return parse_alone


# Only in the fuzzer's process (the tests import this module too); imported twice, wrapped once.
if os.environ.get("SCHEMATHESIS_HOOKS") == __name__ and not hasattr(ast.parse, "__wrapped__"):
    ast.parse = _one_at_a_time(ast.parse)


def _stats(query: dict[str, Any]) -> None:
    since, until = query.get("since"), query.get("until")
    if isinstance(since, str) and isinstance(until, str):
        try:
            later = datetime.fromisoformat(since) > datetime.fromisoformat(until)
        except ValueError:
            return
        if later:
            query["since"], query["until"] = until, since


def _campaign(body: dict[str, Any]) -> None:
    steps = body.get("steps")
    if isinstance(steps, list) and all(isinstance(step, dict) for step in steps):
        orders = [step.get("order") for step in steps]
        if len(set(orders)) != len(orders):  # by value, as the API compares: 429.0 is 429
            for number, step in enumerate(steps, start=1):
                step["order"] = number


def _rule(body: dict[str, Any], method: str) -> None:
    if method == "PATCH":
        body.pop("trigger_type", None)
        body.pop("trigger_config", None)
        return
    config = body.get("trigger_config")
    if isinstance(config, dict) and isinstance(config.get("cron"), str):
        try:
            check_cron(config["cron"])
        except ValueError:
            config["cron"] = CRON


def _contacts(body: dict[str, Any]) -> None:
    contact = os.environ.get("NUDGE_CONTRACT_CONTACT")
    if contact is None:
        return
    if "contact_id" in body:  # drawn as valid: an integer, maybe written 207823382.0
        body["contact_id"] = int(contact)
    if "contact_ids" in body:
        body["contact_ids"] = [int(contact)]


def _step_ids(body: dict[str, Any]) -> None:
    steps = body.get("steps")
    if not isinstance(steps, list):
        return
    seen: set[str] = set()
    for step in steps:
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            stem, number = step["id"][:30], 1
            while step["id"] in seen:  # still 1 to 40 letters, digits, - and _
                step["id"], number = f"{stem}-{number}", number + 1
            seen.add(step["id"])


def _by_score(value: Any) -> None:
    """Every `by_score` list of [threshold, priority] pairs in the body, wherever it sits:
    sorted descending, a threshold given twice (as numbers: 50.0 is 50) kept once."""
    if isinstance(value, list):
        for item in value:
            _by_score(item)
        return
    if not isinstance(value, dict):
        return
    pairs = value.get("by_score")
    if isinstance(pairs, list) and all(
        isinstance(p, list) and p and isinstance(p[0], int | float) for p in pairs
    ):
        kept: dict[float, list] = {}
        for pair in pairs:
            kept.setdefault(pair[0], pair)
        value["by_score"] = sorted(kept.values(), key=lambda p: p[0], reverse=True)
    for item in value.values():
        _by_score(item)


def _templates(body: dict[str, Any], fields: tuple[str, ...], variables: tuple[str, ...]) -> None:
    for field in fields:
        if isinstance(body.get(field), str):
            try:
                validate_template(body[field], field, variables)
            except TemplateProblem:
                body[field] = PLAIN


def _rule_templates(body: dict[str, Any]) -> None:
    _templates(body, ("task_title_template", "task_description_template"), VARIABLES)


def _step_templates(body: dict[str, Any]) -> None:
    steps = body.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            _templates(step, ("title_template", "description_template"), SEQUENCE_VARIABLES)


def _webhook(body: dict[str, Any]) -> None:
    url = body.get("url")
    if isinstance(url, str) and internal_target(url, resolve=False, allow_private=True):
        body["url"] = WEBHOOK


def _window(body: dict[str, Any]) -> None:
    """A replay's `since` before its `until`."""
    since, until = body.get("since"), body.get("until")
    if isinstance(since, str) and isinstance(until, str):
        try:
            first, last = datetime.fromisoformat(since), datetime.fromisoformat(until)
        except ValueError:
            return
        if first > last:
            body["since"], body["until"] = until, since
        elif first == last:
            body["until"] = (last + timedelta(hours=1)).isoformat()


def _calendar(body: dict[str, Any]) -> None:
    hours = body.get("working_hours")
    if isinstance(hours, dict):
        try:
            validate_windows(hours)
        except (ValueError, TypeError):
            body["working_hours"] = {"mon": [["09:00", "17:00"]]}
    holidays = body.get("holidays")
    if isinstance(holidays, dict) and isinstance(holidays.get("country"), str):
        try:
            check_region(holidays["country"], holidays.get("subdivision"))
        except ValueError:
            body["holidays"] = {"country": "DE", "subdivision": None}


INTEGRATIONS = "/api/integrations/"
# HubSpot reads the first four keys, Twenty `eventName` and `record`, standard `type`, `data`.
ANY_CRM_PAYLOAD = {
    "subscriptionType": "contact.creation",
    "eventId": 1,
    "occurredAt": 1700000000000,
    "objectId": 1,
    "eventName": "person.created",
    "record": {"id": "1"},
    "type": "contact.created",
    "data": {"id": "1"},
}


def _integration(body: dict[str, Any], path: str) -> None:
    if path.endswith("/test/"):
        body["payload"] = ANY_CRM_PAYLOAD


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if not case.meta or not case.meta.generation.mode.is_positive:
        return case
    path, method = case.operation.path, case.operation.method.upper()
    if path == "/api/task-automation/stats/" and isinstance(case.query, dict):
        _stats(case.query)
    if isinstance(case.path_parameters, dict):
        for name, value in case.path_parameters.items():
            if value is None:  # a link read a null field (a hand-made task has no batch_id)
                case.path_parameters[name] = 1  # names no resource: any valid id stands in
    if not isinstance(case.body, dict):
        return case
    if UNDER_CREATED.match(path):
        _contacts(case.body)
    if path.startswith(("/api/task-automation/rules/", DEFINITIONS)):
        _by_score(case.body)
    if path.startswith("/api/campaigns/"):
        _campaign(case.body)
    elif path == "/api/task-automation/rules/preview/":
        draft = case.body.get("rule")
        if isinstance(draft, dict):  # the draft is checked as POST checks it
            _rule(draft, "POST")
            _rule_templates(draft)
    elif path.startswith("/api/task-automation/rules/"):
        _rule(case.body, method)
        _rule_templates(case.body)
    elif path == f"{DEFINITIONS}preview/":
        draft = case.body.get("definition")
        if isinstance(draft, dict):  # the draft is checked as POST checks it
            _step_ids(draft)
            _step_templates(draft)
    elif path.startswith(DEFINITIONS):
        _step_ids(case.body)
        _step_templates(case.body)
    elif path == "/api/account/webhook/" or path.startswith(SUBSCRIPTIONS):
        _webhook(case.body)
        if path.endswith("/deliveries/replay/"):
            _window(case.body)
    elif path == "/api/account/calendar/":
        _calendar(case.body)
    elif path.startswith(INTEGRATIONS):
        _integration(case.body, path)
    return case
