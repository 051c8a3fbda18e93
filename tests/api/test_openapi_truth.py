"""/openapi.json says what the API answers, and the API answers it: the error body of every
operation, HEAD and Allow, the JSON boundary, and each schemathesis finding (issue 15) as a test."""

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from api.app import create_app
from nudge.platform.settings import Settings
from tests.api import contract_hooks
from tests.support import auth

ERROR_REF = {"$ref": "#/components/schemas/Error"}
RULES = "/api/task-automation/rules/"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def operations(document: dict[str, Any]):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def repair(path: str, method: str, body: dict[str, Any]) -> None:
    """What tests/api/contract_hooks.py does to a case drawn as valid (it reads only these)."""
    generation = SimpleNamespace(mode=SimpleNamespace(is_positive=True))
    case = SimpleNamespace(
        meta=SimpleNamespace(generation=generation),
        operation=SimpleNamespace(path=path, method=method),
        body=body,
        query=None,
        path_parameters=None,
    )
    contract_hooks.map_case(None, case)


def error_of(body: dict[str, Any], document: dict[str, Any]) -> None:
    """`body` is an Error as the document defines it."""
    schema = {"$ref": "#/components/schemas/Error", "components": document["components"]}
    Draft202012Validator(schema).validate(body)


def test_every_operation_documents_its_errors_with_the_error_body(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        # The calendar feed is read by calendar apps: its secret URL is its key.
        if path.startswith("/api/") and path != "/api/calendar/{token}.ics":
            assert "401" in responses, where
            assert responses["401"]["content"]["application/json"]["schema"] == ERROR_REF
            assert "WWW-Authenticate" in responses["401"]["headers"], where
        if operation.get("parameters") or "requestBody" in operation:
            assert responses["422"]["content"]["application/json"]["schema"] == ERROR_REF, where
        for code, response in responses.items():
            if int(code) >= 400 and path.startswith("/api/"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_REF, f"{where} {code}"


def test_fastapis_validation_schema_is_gone(document):
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text


def test_page_routes_are_not_json_operations(document):
    assert all(
        path.startswith("/api/") or path in ("/healthz", "/readyz") for path in document["paths"]
    )


def test_bounds_are_json_schema_keywords(document):
    """Finding: bounds after a BeforeValidator came out as pydantic's `ge`/`le`, which JSON
    Schema ignores, so id 0 and hours above a year looked valid."""
    text = json.dumps(document["components"])
    assert not re.search(r'"(ge|le|gt|lt)": ', text)
    preview = document["components"]["schemas"]["PreviewIn"]["properties"]["contact_id"]
    assert (preview["minimum"], preview["maximum"]) == (1, 2**31 - 1)


def test_strings_and_field_names_document_that_nul_is_refused(document):
    """Finding: a template or free-form key with NUL was schema-valid and answered 422."""
    schemas = document["components"]["schemas"]
    title = schemas["RuleIn"]["properties"]["task_title_template"]
    assert re.match(title["pattern"], "a\x00b") is None and re.match(title["pattern"], "ab")
    config = schemas["RulePatch"]["properties"]["trigger_config"]
    assert config["propertyNames"]["pattern"] == "^[^\\x00]*$"


def test_time_rule_documents_an_at_that_lies_ahead(document):
    """Finding: the documented example `at` had passed (2026-12-01), so POST refused it."""
    time_config = document["components"]["schemas"]["TimeConfig"]
    at = time_config["properties"]["at"]["pattern"]
    assert re.match(at, "2020-01-01T00:00:00Z") is None
    assert all(re.match(at, e["at"]) for e in time_config["examples"] if "at" in e), time_config[
        "examples"
    ]
    cron = time_config["properties"]["cron"]["pattern"]
    assert re.match(cron, "0 9 * * MON") and not re.match(cron, "")


def test_schedule_recurring_documents_201_and_200(document):
    responses = document["paths"]["/api/task-automation/schedule-recurring/"]["post"]["responses"]
    assert {"200", "201"} <= responses.keys()


async def test_head_answers_as_get_without_a_body(api, tenant):
    for path, headers in (("/healthz", {}), ("/api/tasks/", auth(tenant))):
        resp = await api.head(path, headers=headers)
        assert resp.status_code == 200, path
        assert resp.content == b""
        assert resp.headers["content-type"] == "application/json"


async def test_405_names_every_method_of_the_path(api, tenant):
    resp = await api.put(f"{RULES}preview/", json={}, headers=auth(tenant))
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    resp = await api.delete("/api/tasks/", headers=auth(tenant))
    assert resp.status_code == 405
    assert set(resp.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_put_on_rules_preview_is_405_not_a_bad_rule_id(api, tenant):
    """Finding (ST204): PUT /rules/preview/ matched /rules/{rule_id}/ and answered 422."""
    resp = await api.put(f"{RULES}preview/", json={}, headers=auth(tenant))
    assert resp.status_code == 405, resp.text


async def test_a_body_over_a_mebibyte_is_413(api, tenant, document):
    body = json.dumps({"name": "x" * (1024 * 1024)}).encode()
    resp = await api.post(
        "/api/contacts/",
        content=body,
        headers=auth(tenant) | {"content-type": "application/json"},
    )
    assert resp.status_code == 413
    error_of(resp.json(), document)
    assert "1 MiB" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (b'{"name": "caf\xe9"}', "body", "not valid UTF-8"),
        (b"[" * 1000 + b"]" * 1000, "body", "deeper than 64"),
        (b'{"name": NaN}', "body", "NaN is not JSON"),
        (b'{"name": "a\\ud800", "external_id": "x-1"}', "name", "lone UTF-16 surrogate"),
    ],
    ids=["invalid-utf8", "1000-deep", "nan", "lone-surrogate"],
)
async def test_bodies_the_boundary_refuses_are_422_errors(
    api, tenant, document, content, field, words
):
    resp = await api.post(
        "/api/contacts/",
        content=content,
        headers=auth(tenant) | {"content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    body = resp.json()
    error_of(body, document)
    assert body["errors"][0]["field"] == field
    assert words in body["errors"][0]["message"]


@pytest.mark.parametrize("until", ["0.5", "1700000000"])
async def test_stats_until_must_be_a_time(api, tenant, until):
    resp = await api.get(
        "/api/task-automation/stats/", params={"until": until}, headers=auth(tenant)
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "until"


async def test_stats_since_equal_to_until_is_an_empty_window(api, tenant):
    """Finding (ST202): the coverage phase sends since == until, a schema-valid empty window."""
    at = "2026-01-01T00:00:00+00:00"
    resp = await api.get(
        "/api/task-automation/stats/", params={"since": at, "until": at}, headers=auth(tenant)
    )
    assert resp.status_code == 200, resp.text


async def test_is_active_must_be_a_boolean(api, tenant):
    """Finding (ST201): `"is_active": 0` was read as false and the rule saved."""
    rule = {
        "name": "r",
        "trigger_type": "status_change",
        "task_title_template": "Call {{contact_name}}",
        "is_active": 0,
    }
    resp = await api.post(RULES, json=rule, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "is_active"


async def test_schedule_recurring_answers_201_then_200(api, tenant):
    body = {"contact_id": tenant.contact_id, "cadence": "weekly"}
    url = "/api/task-automation/schedule-recurring/"
    first = await api.post(url, json=body, headers=auth(tenant))
    assert first.status_code == 201, first.text
    again = await api.post(url, json=body, headers=auth(tenant))
    assert again.status_code == 200, again.text
    assert again.json()["workflow_id"] == first.json()["workflow_id"]


async def test_step_orders_are_compared_by_value_by_the_api_and_the_generator(api, tenant):
    """Finding (ST202, seed 2): steps ordered 429.0 and 429 share an order, so the API's 422 was
    right and the hook that repairs generated campaigns compared them as text; now both agree."""
    step = {"message_type": "task", "name": "Call", "delay_days": 0}
    body = {"name": "c", "steps": [step | {"order": 429.0}, step | {"order": 429}]}
    resp = await api.post("/api/campaigns/", json=body, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert "its own order" in resp.json()["detail"]
    repair("/api/campaigns/", "POST", body)
    resp = await api.post("/api/campaigns/", json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text


async def test_a_drafts_cron_is_checked_as_posts_and_repaired_by_the_generator(api, tenant):
    """Finding (ST202, seed 3): a draft's cron of the documented shape that cron can't read is
    422, as the operation's description says; the hook repaired only saved rules' crons."""
    rule = {
        "name": "r",
        "trigger_type": "time",
        "task_title_template": "Call {{contact_name}}",
        "trigger_config": {"cron": "sJK0RGV *f0 - Cb jeTHEf", "timezone": "UTC"},
    }
    body = {"rule": rule, "contact_id": tenant.contact_id}
    resp = await api.post(f"{RULES}preview/", json=body, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "rule" and "cron" in resp.json()["detail"]
    repair(f"{RULES}preview/", "POST", body)
    resp = await api.post(f"{RULES}preview/", json=body, headers=auth(tenant))
    assert resp.status_code == 200, resp.text


async def test_a_preview_of_a_new_rule_for_an_unknown_contact_is_404_naming_the_contact(
    api, tenant, document, monkeypatch
):
    """Finding (ST302, seed 3): POST a rule, then preview it for contact 114230655: the 404 is
    about the contact, not the rule just made. The document says so, and the hook gives the
    generated previews a contact that exists, so a 404 there would mean the rule is gone."""
    rule = {"name": "r", "trigger_type": "status_change", "task_title_template": "Call"}
    made = await api.post(RULES, json=rule, headers=auth(tenant))
    url = f"{RULES}{made.json()['id']}/preview/"
    body = {"contact_id": 114230655.0}  # seed 5 wrote it so
    resp = await api.post(url, json=body, headers=auth(tenant))
    assert resp.status_code == 404 and "contact 114230655" in resp.json()["detail"]
    for path in (f"{RULES}{{rule_id}}/preview/", "/api/campaigns/{campaign_id}/enroll/"):
        assert "contact" in document["paths"][path]["post"]["responses"]["404"]["description"]
    monkeypatch.setenv("NUDGE_CONTRACT_CONTACT", str(tenant.contact_id))
    repair(f"{RULES}{{rule_id}}/preview/", "POST", body)
    resp = await api.post(url, json=body, headers=auth(tenant))
    assert resp.status_code == 200, resp.text


async def test_template_fields_document_their_length_limit(api, tenant, document):
    """Finding (ST202, seed 3, 25 examples): PATCH with a 4999-character description template
    was schema-valid and answered 422 (the limit is 2000): every template field states it."""
    schemas = document["components"]["schemas"]
    for name, fields in [
        ("RuleIn", ["task_title_template", "task_description_template"]),
        ("RulePatch", ["task_title_template", "task_description_template"]),
        ("TaskTemplateIn", ["title", "description"]),
    ]:
        for field in fields:
            assert schemas[name]["properties"][field]["maxLength"] == 2000, (name, field)
    rule = {"name": "r", "trigger_type": "status_change", "task_title_template": "Call"}
    url = f"{RULES}{(await api.post(RULES, json=rule, headers=auth(tenant))).json()['id']}/"
    for length, status in [(2000, 200), (2001, 422)]:
        body = {"task_description_template": "0" * length}
        resp = await api.patch(url, json=body, headers=auth(tenant))
        assert resp.status_code == status, resp.text
    assert resp.json()["errors"][0]["field"] == "task_description_template"
    assert "the limit is 2000" in resp.json()["detail"]


def test_text_patterns_spell_whitespace_as_the_server_strips_it():
    """Found by schemathesis: `\\s` in a documented pattern meant ECMA's whitespace, while the
    server (pydantic's Rust regex and strip) reads another set: an email holding U+0085 was
    schema-valid and refused. Every character, alone, is valid text exactly when the server
    takes it, and an email with it inside exactly when the server takes that."""
    from pydantic import TypeAdapter, ValidationError

    from nudge.core.types import EMAIL, VISIBLE_TEXT, Email, NonEmpty

    text, email = TypeAdapter(NonEmpty), TypeAdapter(Email)

    def takes(adapter: TypeAdapter, value: str) -> bool:  # type: ignore[type-arg]
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    for code in [*range(0x3100), 0x202F, 0x205F, 0x3000, 0xFEFF]:
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        assert takes(text, char) == bool(re.fullmatch(VISIBLE_TEXT, char)), hex(code)
        address = f"a{char}b@example.com"
        assert takes(email, address) == bool(re.fullmatch(EMAIL, address)), hex(code)
