"""Score-based priority over HTTP: a contact's score set, cleared and checked; a rule's and a
custom step's priority by score, previewed for contacts of different scores, answered as
given, and refused (422 naming the field, writing nothing) when its thresholds are bad."""

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.pages.definition_form import DefinitionForm
from nudge.core.models import Rule, SequenceDefinition
from nudge.platform.settings import Settings
from nudge.sequences.definition_schemas import DefinitionOut
from tests.api.test_openapi_truth import repair
from tests.api.test_page import signed_in
from tests.e2e.test_rules_time_skipping import ONBOARDING_RULE, RULES
from tests.support import auth

BASE = "/automations/task-scheduling"
CONTACTS = "/api/contacts/"
DEFINITIONS = "/api/task-automation/sequences/definitions/"
BY_SCORE = {"by_score": [[80, "urgent"], [50, "high"], [20, "medium"]], "else": "low"}
RULE = ONBOARDING_RULE | {"name": "By score", "task_priority": BY_SCORE}
STEP = {
    "id": "call",
    "kind": "call",
    "wait": {"days": 1},
    "anchor": "enrollment",
    "title_template": "Call {{ contact_name }}",
    "priority": BY_SCORE,
}
DEFINITION = {"name": "Scored", "steps": [STEP]}


async def contact(api, tenant, external_id: str, score: int | None) -> dict:  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"external_id": external_id, "name": f"Scored {external_id}"}
    if score is not None:
        body["score"] = score
    resp = await api.post(CONTACTS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    assert resp.json()["score"] == score
    return resp.json()


def rows(sessions, owner_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The owner's rules and sequence definitions."""
    with sessions() as session:
        return (
            session.scalar(select(func.count()).where(Rule.owner_id == owner_id)) or 0,
            session.scalar(select(func.count()).where(SequenceDefinition.owner_id == owner_id))
            or 0,
        )


# --- a contact's score ----------------------------------------------------------------------


async def test_a_contacts_score_is_set_changed_cleared_and_checked(api, tenant):
    headers = auth(tenant)
    made = await contact(api, tenant, "s-1", 42)
    url = f"{CONTACTS}{made['id']}/"
    assert (await api.get(url, headers=headers)).json()["score"] == 42
    upserted = await api.post(
        CONTACTS, json={"external_id": "s-1", "name": "Scored s-1", "score": 100}, headers=headers
    )
    assert (upserted.status_code, upserted.json()["score"]) == (200, 100)
    renamed = await api.patch(url, json={"name": "Kept score"}, headers=headers)
    assert renamed.json()["score"] == 100  # left out: kept
    zero = await api.patch(url, json={"score": 0}, headers=headers)
    assert (zero.status_code, zero.json()["score"]) == (200, 0)
    cleared = await api.patch(url, json={"score": None}, headers=headers)
    assert (cleared.status_code, cleared.json()["score"]) == (200, None)
    for bad, words in (
        (101, "less than or equal to 100"),
        (-1, "greater than or equal to 0"),
        (True, "valid integer"),
        ("80", "valid integer"),
        (50.5, "valid integer"),
    ):
        for resp in (
            await api.patch(url, json={"score": bad}, headers=headers),
            await api.post(
                CONTACTS, json={"external_id": "s-2", "name": "n", "score": bad}, headers=headers
            ),
        ):
            assert resp.status_code == 422, (bad, resp.text)
            assert [e["field"] for e in resp.json()["errors"]] == ["score"]
            assert words in resp.json()["detail"], (bad, resp.json())
    assert (await api.get(url, headers=headers)).json()["score"] is None
    assert (await api.get(CONTACTS, headers=headers)).json()["total"] == 2  # tenant's + s-1


# --- a rule's priority by score -------------------------------------------------------------


async def test_a_rule_by_score_previews_each_contacts_priority(api, tenant):
    headers = auth(tenant)
    created = await api.post(RULES, json=RULE, headers=headers)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["task_priority"] == BY_SCORE  # answered as given
    assert (await api.get(f"{RULES}{rule['id']}/", headers=headers)).json() == rule
    listed = (await api.get(RULES, headers=headers)).json()["items"]
    assert [r["task_priority"] for r in listed] == [BY_SCORE]
    event = {"old_status": "lead", "new_status": "active"}
    for score, expected in ((85, "urgent"), (60, "high"), (None, "low"), (80, "urgent"),
                            (19, "low")):  # fmt: skip
        who = await contact(api, tenant, f"p-{score}", score)
        body = {"contact_id": who["id"], "event": event}
        saved = await api.post(f"{RULES}{rule['id']}/preview/", json=body, headers=headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["priority"] == expected, score
        draft = await api.post(f"{RULES}preview/", json=body | {"rule": RULE}, headers=headers)
        assert draft.status_code == 200, draft.text
        assert draft.json()["priority"] == expected, score
    assert (await api.get("/api/tasks/", headers=headers)).json()["total"] == 0


async def test_put_and_patch_switch_between_plain_and_by_score(api, tenant, sessions):
    headers = auth(tenant)
    rule = (await api.post(RULES, json=RULE, headers=headers)).json()
    url = f"{RULES}{rule['id']}/"
    renamed = await api.patch(url, json={"name": "Renamed"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["task_priority"] == BY_SCORE  # a PATCH of another field keeps it
    plain = await api.patch(url, json={"task_priority": "high"}, headers=headers)
    assert plain.status_code == 200, plain.text
    assert plain.json()["task_priority"] == "high"
    with sessions() as session:
        row = session.get(Rule, rule["id"])
        assert (row.task_priority, row.priority_by_score) == ("high", None)
    again = await api.patch(
        url, json={"task_priority": BY_SCORE | {"else": "medium"}}, headers=headers
    )
    assert again.json()["task_priority"] == BY_SCORE | {"else": "medium"}
    with sessions() as session:
        row = session.get(Rule, rule["id"])
        assert (row.task_priority, row.priority_by_score) == ("medium", BY_SCORE["by_score"])
    no_else = await api.put(
        url, json=RULE | {"task_priority": {"by_score": [[90, "urgent"]]}}, headers=headers
    )
    assert no_else.json()["task_priority"] == {"by_score": [[90, "urgent"]], "else": "low"}
    put_plain = await api.put(url, json=ONBOARDING_RULE, headers=headers)
    assert put_plain.json()["task_priority"] == "urgent"
    with sessions() as session:
        assert session.get(Rule, rule["id"]).priority_by_score is None  # type: ignore[union-attr]


def with_pairs(pairs: Any) -> dict:
    return {"by_score": pairs, "else": "low"}


BAD = [
    ("unsorted", with_pairs([[50, "high"], [80, "urgent"]]), "by_score",
     ["thresholds must be strictly descending", 'e.g. [[80, "urgent"], [50, "high"]]']),
    ("duplicate", with_pairs([[50, "high"], [50, "urgent"]]), "by_score",
     ["threshold 50 is given twice", "strictly descending"]),
    ("over-100", with_pairs([[101, "urgent"]]), "by_score.0.0", ["less than or equal to 100"]),
    ("negative", with_pairs([[-1, "urgent"]]), "by_score.0.0", ["greater than or equal to 0"]),
    ("unknown-priority", with_pairs([[80, "critical"]]), "by_score.0.1",
     ["'low', 'medium', 'high' or 'urgent'"]),
    ("unknown-else", BY_SCORE | {"else": "whenever"}, "else", ["'urgent'"]),
    ("empty", with_pairs([]), "by_score", ["at least 1"]),
    ("bool-threshold", with_pairs([[True, "urgent"]]), "by_score.0.0", ["valid integer"]),
    ("unknown-key", BY_SCORE | {"otherwise": "low"}, "otherwise", ["unknown field"]),
    ("no-pairs", {"else": "low"}, "by_score", ["Field required"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("priority", "where", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
async def test_bad_mappings_are_422_naming_the_field_and_write_nothing(
    api, tenant, sessions, priority, where, words
):
    headers = auth(tenant)
    rule = RULE | {"task_priority": priority}
    step = copy.deepcopy(STEP) | {"priority": priority}
    for url, body, field in (
        (RULES, rule, f"task_priority.{where}"),
        (f"{RULES}preview/", {"contact_id": tenant.contact_id, "rule": rule},
         f"rule.task_priority.{where}"),
        (DEFINITIONS, DEFINITION | {"steps": [step]}, f"steps.0.priority.{where}"),
        (f"{DEFINITIONS}preview/",
         {"contact_id": tenant.contact_id, "definition": DEFINITION | {"steps": [step]}},
         f"definition.steps.0.priority.{where}"),
    ):  # fmt: skip
        resp = await api.post(url, json=body, headers=headers)
        assert resp.status_code == 422, (url, resp.text)
        error = resp.json()
        assert [e["field"] for e in error["errors"]] == [field], (url, error)
        for word in words:
            assert word in error["detail"], (url, error["detail"])
    assert rows(sessions, tenant.owner_id) == (0, 0)


async def test_a_bad_patch_of_a_priority_changes_nothing(api, tenant):
    headers = auth(tenant)
    rule = (await api.post(RULES, json=RULE, headers=headers)).json()
    url = f"{RULES}{rule['id']}/"
    for bad in ("critical", with_pairs([[20, "low"], [60, "high"]])):
        resp = await api.patch(url, json={"task_priority": bad}, headers=headers)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"].startswith("task_priority")
    assert (await api.get(url, headers=headers)).json() == rule


# --- a custom step's priority by score ------------------------------------------------------


async def test_a_step_by_score_is_stored_answered_and_previewed_per_contact(api, tenant):
    headers = auth(tenant)
    plain = STEP | {"id": "plain", "anchor": "previous_due", "priority": "high"}
    created = await api.post(
        DEFINITIONS, json=DEFINITION | {"steps": [STEP, plain]}, headers=headers
    )
    assert created.status_code == 201, created.text
    made = created.json()
    assert [s["priority"] for s in made["steps"]] == [BY_SCORE, "high"]
    url = f"{DEFINITIONS}{made['id']}/"
    assert (await api.get(url, headers=headers)).json() == made
    # The same steps sent again are no change: no new version.
    same = await api.patch(url, json={"steps": made["steps"]}, headers=headers)
    assert same.json()["version"] == 1
    for score, expected in ((85, "urgent"), (60, "high"), (None, "low")):
        who = await contact(api, tenant, f"d-{score}", score)
        body = {"contact_id": who["id"]}
        saved = await api.post(f"{url}preview/", json=body, headers=headers)
        assert saved.status_code == 200, saved.text
        assert [s["priority"] for s in saved.json()["steps"]] == [expected, "high"]
        draft = await api.post(
            f"{DEFINITIONS}preview/", json=body | {"definition": DEFINITION}, headers=headers
        )
        assert [s["priority"] for s in draft.json()["steps"]] == [expected]
    changed = await api.patch(
        url, json={"steps": [STEP | {"priority": "low"}, plain]}, headers=headers
    )
    assert changed.json()["version"] == 2
    assert [s["priority"] for s in changed.json()["steps"]] == ["low", "high"]


async def test_the_pages_of_a_rule_and_a_step_by_score_still_render(api, tenant):
    """The page has no editor for a priority by score: the rule's and the step's pages still
    render, and the step editor's form carries the object back as it was."""
    rule = (await api.post(RULES, json=RULE, headers=auth(tenant))).json()
    made = (await api.post(DEFINITIONS, json=DEFINITION, headers=auth(tenant))).json()
    async with signed_in(api, tenant) as (browser, _):
        for path in ("", f"/rules/{rule['id']}/edit", f"/sequences/{made['id']}/edit"):
            page = await browser.get(f"{BASE}{path}")
            assert page.status_code == 200, (path, page.text)
    form = DefinitionForm.from_definition(DefinitionOut.model_validate(made))
    again = DefinitionForm(form.values).checked()
    assert again is not None and again.steps[0].model_dump(mode="json")["priority"] == BY_SCORE


# --- the document, and the contract test's generator -----------------------------------------


def test_the_document_states_what_json_schema_can():
    schemas = create_app(Settings()).openapi()["components"]["schemas"]
    by_score = next(v for k, v in schemas.items() if k.startswith("ByScore"))
    pairs = by_score["properties"]["by_score"]
    assert (pairs["minItems"], pairs["maxItems"]) == (1, 10)
    assert pairs["items"]["prefixItems"][0] == {"type": "integer", "minimum": 0, "maximum": 100}
    assert pairs["items"]["prefixItems"][1]["enum"] == ["low", "medium", "high", "urgent"]
    assert (pairs["items"]["minItems"], pairs["items"]["maxItems"]) == (2, 2)
    assert "strictly descending" in by_score["description"]
    assert by_score["additionalProperties"] is False
    score = schemas["ContactIn"]["properties"]["score"]["anyOf"][0]
    assert score == {"type": "integer", "minimum": 0, "maximum": 100}


async def test_the_generators_by_score_is_repaired_into_one_the_api_takes(api, tenant):
    drawn = {"by_score": [[20, "low"], [80, "urgent"], [20.0, "high"], [50, "high"]]}
    rule = RULE | {"task_priority": copy.deepcopy(drawn)}
    repair(RULES, "POST", rule)
    assert rule["task_priority"]["by_score"] == [[80, "urgent"], [50, "high"], [20, "low"]]
    assert (await api.post(RULES, json=rule, headers=auth(tenant))).status_code == 201
    body = {"contact_id": 1, "definition": DEFINITION | {"steps": [STEP | {"priority": drawn}]}}
    repair(f"{DEFINITIONS}preview/", "POST", body)
    steps = body["definition"]["steps"]  # type: ignore[index]
    assert steps[0]["priority"]["by_score"] == [[80, "urgent"], [50, "high"], [20, "low"]]
