"""What JSON Schema can't say, taught to schemathesis's generator (SCHEMATHESIS_HOOKS).

Each rule below is stated in the operation's description in /openapi.json and has its own
422 test; only data schemathesis generates as *valid* is adjusted, so the negative phase still
sends what breaks the schema. The adjustment keeps the generated case and repairs the one
cross-field or semantic rule, so every other part of the case is still tested as drawn.

- stats: `since` before `until` (tests/api/test_stats_api.py)
- campaigns: step `order`s unique (tests/api/test_openapi_truth.py)
- rules: a `cron` that is valid and fires on some date (tests/unit/rules/test_triggers.py);
  PATCH's `trigger_type`/`trigger_config` must fit the stored rule, which the document can't
  know (tests/api/test_rules_api.py)
- webhook: a URL the delivery can reach as written (tests/unit/reminders/test_ssrf.py)
"""

from datetime import datetime
from typing import Any

import schemathesis

from nudge.reminders.webhooks import internal_target
from nudge.rules.cron import check_cron

CRON = "0 9 * * MON"
WEBHOOK = "https://hooks.example.com/nudge"


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
        if len(set(map(repr, orders))) != len(orders):
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


def _webhook(body: dict[str, Any]) -> None:
    url = body.get("url")
    if isinstance(url, str) and internal_target(url, resolve=False, allow_private=True):
        body["url"] = WEBHOOK


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if not case.meta or not case.meta.generation.mode.is_positive:
        return case
    path, method = case.operation.path, case.operation.method.upper()
    if path == "/api/task-automation/stats/" and isinstance(case.query, dict):
        _stats(case.query)
    if not isinstance(case.body, dict):
        return case
    if path.startswith("/api/campaigns/"):
        _campaign(case.body)
    elif path.startswith("/api/task-automation/rules/"):
        _rule(case.body, method)
    elif path == "/api/account/webhook/":
        _webhook(case.body)
    return case
