"""The HTTP API only grows: every path, method, parameter, request field, response code and
response field of the committed document is still there, and nothing became required.

The fixture is `/openapi.json` as it was before the capability regrouping; regenerate it only
for a deliberate, announced breaking change."""

import json
from pathlib import Path
from typing import Any

from api.app import create_app
from nudge.platform.settings import Settings

BEFORE = Path(__file__).parent / "fixtures" / "openapi-before-regroup.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fields(doc: dict, schema: dict | None) -> tuple[set[str], set[str]]:
    """(properties, required) of a body schema, following references."""
    if not schema:
        return set(), set()
    schema = _resolve(doc, schema)
    return set(schema.get("properties", {})), set(schema.get("required", []))


def _body(doc: dict, op: dict) -> dict | None:
    content = op.get("requestBody", {}).get("content", {})
    for media in content.values():
        return media.get("schema")
    return None


def _response(doc: dict, op: dict, code: str) -> dict | None:
    for media in op["responses"][code].get("content", {}).values():
        return media.get("schema")
    return None


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    for path, item in old["paths"].items():
        if path not in new["paths"]:
            problems.append(f"{path}: path removed")
            continue
        for method in METHODS & set(item):
            where, op = f"{method.upper()} {path}", item[method]
            if method not in new["paths"][path]:
                problems.append(f"{where}: method removed")
                continue
            now = new["paths"][path][method]
            old_params = {(p["in"], p["name"]) for p in op.get("parameters", [])}
            new_params = {(p["in"], p["name"]): p for p in now.get("parameters", [])}
            problems += [f"{where}: parameter {p} removed" for p in old_params - set(new_params)]
            problems += [
                f"{where}: parameter {key} became required"
                for key, p in new_params.items()
                if p.get("required") and key not in old_params and key[0] != "path"
            ]
            old_props, old_req = _fields(old, _body(old, op))
            new_props, new_req = _fields(new, _body(new, now))
            problems += [f"{where}: request field {f} removed" for f in old_props - new_props]
            problems += [f"{where}: request field {f} now required" for f in new_req - old_req]
            for code in op["responses"]:
                if code not in now["responses"]:
                    problems.append(f"{where}: response {code} removed")
                    continue
                before, _ = _fields(old, _response(old, op, code))
                after, _ = _fields(new, _response(new, now, code))
                problems += [f"{where} {code}: response field {f} removed" for f in before - after]
    for name, schema in old["components"]["schemas"].items():
        if name not in new["components"]["schemas"]:
            problems.append(f"schema {name} removed")
            continue
        gone = set(schema.get("properties", {})) - set(
            new["components"]["schemas"][name].get("properties", {})
        )
        problems += [f"schema {name}: field {f} removed" for f in sorted(gone)]
    return problems


# Deliberate changes, each with its reason; nothing else may disappear.
ANNOUNCED = {
    "GET /healthz: response 503 removed": "liveness checks nothing but the process itself; "
    "the database and Temporal are readiness, answered by /readyz (503 when down)",
    # The API never sent FastAPI's validation body: every 422 is the `Error` body
    # ({"detail": str, "errors": [{"field", "message"}]}), now documented as such.
    "schema HTTPValidationError removed": "every 422 answers `Error`, as it always did",
    "schema ValidationError removed": "it was only a part of HTTPValidationError",
}
# The web page at /automations/task-scheduling answers HTML and takes forms: it is not part of
# the JSON API, so its routes (and the form bodies FastAPI named for them) left the document;
# the README lists them.
PAGE_PATH, PAGE_FORM = "/automations/task-scheduling", "_automations_task_scheduling_"


def announced(difference: str) -> bool:
    if difference in ANNOUNCED:
        return True
    page_route = difference.startswith(PAGE_PATH) and difference.endswith(": path removed")
    page_form = difference.startswith("schema Body_") and PAGE_FORM in difference
    return page_route or page_form


def test_the_api_only_grows() -> None:
    old = json.loads(BEFORE.read_text())
    new = create_app(Settings()).openapi()
    assert [d for d in differences(old, new) if not announced(d)] == []


def test_the_comparison_sees_a_removed_field() -> None:
    """The check itself can fail: drop a response field and a path from a copy."""
    old = json.loads(BEFORE.read_text())
    new = json.loads(BEFORE.read_text())
    del new["components"]["schemas"]["TaskOut"]["properties"]["due_at"]
    del new["paths"]["/api/tasks/"]
    found = differences(old, new)
    assert "schema TaskOut: field due_at removed" in found
    assert "/api/tasks/: path removed" in found
