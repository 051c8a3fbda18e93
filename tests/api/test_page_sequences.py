"""The Sequences section of the web page over HTTP: built-in and own definitions listed, the
step editor (errors beside each step's field, nothing saved when wrong, add / remove / move,
what ends an enrollment early ticked and saved), the draft timeline, the live-edit
consequence before saving and the migrated count after, enrolling one contact or several, an
enrollment's steps, and another owner's definitions never shown nor reachable."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from nudge.core.models import Contact, SequenceDefinition, SequenceVersion
from nudge.platform.db import transaction
from tests.api.test_page import browser_for, signed_in
from tests.support import auth, poll

BASE = "/automations/task-scheduling"
DEFINITIONS = "/api/task-automation/sequences/definitions/"


def api_step(step_id: str, kind: str, days: float, anchor: str = "previous_due") -> dict:
    return {
        "id": step_id,
        "kind": kind,
        "wait": {"days": days},
        "anchor": anchor,
        "title_template": f"{kind} {{{{ contact_name }}}} ({{{{ step_number }}}})",
    }


async def define(api: httpx.AsyncClient, tenant: Any, name: str, steps: list[dict]) -> dict:
    resp = await api.post(DEFINITIONS, json={"name": name, "steps": steps}, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


def step_form(i: int, *, kind: str = "call", wait: str = "1", unit: str = "days",
              anchor: str = "previous_due", title: str = "Call {{ contact_name }}",
              step_id: str = "", **more: str) -> dict[str, str]:  # fmt: skip
    """Step i of the editor's form, as the browser posts it."""
    fields = {"id": step_id, "kind": kind, "wait_amount": wait, "wait_unit": unit,
              "anchor": anchor, "max_wait_amount": "", "max_wait_unit": "days",
              "on_max_wait": "create", "title_template": title, "description_template": "",
              "priority": "medium", "reminder_offset_hours": "", **more}  # fmt: skip
    return {f"steps-{i}-{key}": value for key, value in fields.items()}


def editor(token: str, name: str, *steps: dict[str, str], **more: str) -> dict[str, str]:
    form = {"csrf": token, "name": name, "description": ""}
    for step in steps:
        form.update(step)
    return {**form, **more}


def exits(activities: list[str], statuses: list[str]) -> dict[str, Any]:
    """The exit checkboxes ticked, as the browser posts them (with the field saying the form
    had them)."""
    return {"exits_shown": "1", "exit_activity": activities, "exit_status": statuses}


def ticked(html: str) -> tuple[list[str], list[str]]:
    """The exit checkboxes the page shows ticked: (activities, statuses)."""
    found = re.findall(r'name="exit_(activity|status)" value="([^"]+)" checked', html)
    return [v for k, v in found if k == "activity"], [v for k, v in found if k == "status"]


def three_steps() -> list[dict[str, str]]:
    return [
        step_form(0, kind="call", wait="1", anchor="enrollment"),
        step_form(1, kind="email", wait="2", title="Email {{ contact_name }}"),
        step_form(2, kind="linkedin", wait="12", unit="hours", anchor="previous_completed",
                  title="Connect with {{ contact_name }} ({{ step_number }}/{{ step_count }})"),
    ]  # fmt: skip


def owned_definitions(sessions: Any, owner_id: int) -> int:
    with sessions() as s:
        count = s.scalar(select(func.count()).where(SequenceDefinition.owner_id == owner_id))
    return int(count or 0)


def add_contacts(sessions: Any, owner_id: int, *names: str) -> list[int]:
    with transaction(sessions) as s:
        rows = [Contact(owner_id=owner_id, external_id=f"x-{uuid.uuid4().hex[:8]}", name=n)
                for n in names]  # fmt: skip
        s.add_all(rows)
        s.flush()
        return [c.id for c in rows]


async def test_list_shows_built_ins_and_my_own_only(api, make_tenant):
    me, other = make_tenant(), make_tenant("Zed Secretname")
    mine = await define(api, me, "My three steps", [api_step("a", "call", 1)])
    theirs = await define(api, other, "Their secret sequence", [api_step("a", "call", 1)])
    async with signed_in(api, me) as (browser, _):
        page = (await browser.get(BASE)).text
    rows = dict(
        re.findall(r'<tr id="definition-(\d+)" class="definition[^"]*"(.*?)</tr>', page, re.S)
    )
    built_in = {k: v for k, v in rows.items() if "built-in, read-only" in v}
    assert len(built_in) == 3
    for html in built_in.values():
        assert "/edit" not in html and "?copy=" in html and "/preview" in html
    assert "Standard follow-up" in page and "Gentle follow-up" in page
    own = rows[str(mine["id"])]
    assert "built-in" not in own and f"/sequences/{mine['id']}/edit" in own
    assert re.search(r'data-label="Version">1<.*data-label="Steps">1<', own, re.S)
    assert str(theirs["id"]) not in rows and "Their secret sequence" not in page

    # A built-in is read-only: copied into a new sequence, and previewed for a contact.
    async with signed_in(api, me) as (browser, _):
        copy = await browser.get(f"{BASE}/sequences/new?copy={next(iter(built_in))}")
        timeline = await browser.get(
            f"{BASE}/sequences/{next(iter(built_in))}/preview?contact_id={me.contact_id}"
        )
    assert copy.status_code == 200 and 'value="Copy of Standard follow-up"' in copy.text
    assert copy.text.count('<fieldset class="step"') == 4
    assert re.findall(r'name="steps-\d+-id" value="([^"]*)"', copy.text)[0] == "day-1"
    assert timeline.status_code == 200
    assert timeline.text.count('<tr class="timeline-step"') == 4
    assert f"Follow up with {me.contact_name} (1/4)" in timeline.text


async def test_another_owners_definition_is_not_found(api, make_tenant, sessions):
    me, other = make_tenant(), make_tenant("Zed Secretname")
    theirs = await define(api, other, "Their secret sequence", [api_step("a", "call", 1)])
    tid = theirs["id"]
    async with signed_in(api, me) as (browser, token):
        for path in (f"/sequences/{tid}/edit", f"/sequences/{tid}/preview",
                     f"/sequences/{tid}/enroll", f"/sequences/new?copy={tid}"):  # fmt: skip
            resp = await browser.get(BASE + path)
            assert resp.status_code == 404, path
            assert "Their secret" not in resp.text and "Zed" not in resp.text
        posts = [
            (f"/sequences/{tid}", editor(token, "Mine now", step_form(0))),
            (f"/sequences/{tid}/edit", editor(token, "Mine now", step_form(0), op="add")),
            (f"/sequences/{tid}/enroll", {"csrf": token, "contact_ids": str(me.contact_id)}),
            ("/sequences/preview", editor(token, "x", step_form(0), definition_id=str(tid))),
        ]
        for path, data in posts:
            resp = await browser.post(BASE + path, data=data)
            assert resp.status_code == 404, (path, resp.text[:300])
            assert "Their secret" not in resp.text
        built_in = await browser.get(f"{BASE}/sequences/1/edit")
        assert built_in.status_code == 409 and "read-only" in built_in.text
    with sessions() as s:
        kept = s.get(SequenceDefinition, tid)
        assert kept is not None and kept.name == "Their secret sequence"


async def test_editor_errors_beside_each_step_and_nothing_saved(api, tenant, sessions):
    bad = three_steps()
    bad[1] = step_form(1, kind="email", wait="400")  # over a year
    bad[2]["steps-2-title_template"] = "Hi {{ nope }}"
    bad[2]["steps-2-reminder_offset_hours"] = "soon"
    async with signed_in(api, tenant) as (browser, token):
        resp = await browser.post(f"{BASE}/sequences", data=editor(token, "", *bad))
        assert resp.status_code == 422
        html = resp.text
        assert owned_definitions(sessions, tenant.owner_id) == 0
        assert 'id="name-error"' in html
        wait = re.search(r'id="steps-1-wait-error"[^>]*>([^<]*)<', html)
        assert wait is not None and "365" in wait.group(1)
        title = re.search(r'id="steps-2-title_template-error"[^>]*>([^<]*)<', html)
        assert title is not None and "nope" in title.group(1)
        assert not title.group(1).startswith("title_template")  # beside it: no field name
        assert 'id="steps-2-reminder_offset_hours-error"' in html
        assert 'aria-describedby="steps-2-title_template-error"' in html
        assert not re.search(r'id="steps-0-[^"]*error"', html)  # step 1 is fine
        assert 'value="Hi {{ nope }}"' in html  # as typed, escaped
        assert "Nothing was saved" in html

        ok = await browser.post(f"{BASE}/sequences", data=editor(token, "Three", *three_steps()))
        assert ok.status_code == 303, ok.text[:500]
        assert ok.headers["location"].startswith(f"{BASE}?done=sequence-created&definition=")
        again = await browser.post(f"{BASE}/sequences", data=editor(token, "three", step_form(0)))
        assert again.status_code == 422 and 'id="name-error"' in again.text  # name in use
    with sessions() as s:
        definition = s.scalar(
            select(SequenceDefinition).where(SequenceDefinition.owner_id == tenant.owner_id)
        )
        assert definition is not None and definition.version == 1
        steps = s.scalar(
            select(SequenceVersion.steps).where(SequenceVersion.definition_id == definition.id)
        )
    assert [st["kind"] for st in steps] == ["call", "email", "linkedin"]
    assert steps[2]["wait"] == {"hours": 12} and steps[2]["anchor"] == "previous_completed"
    assert all(st["id"] for st in steps)


async def test_add_remove_and_move_steps_keep_their_ids(api, tenant):
    steps = [step_form(0, step_id="first"), step_form(1, step_id="second", kind="email")]
    async with signed_in(api, tenant) as (browser, token):
        added = await browser.post(
            f"{BASE}/sequences/new", data=editor(token, "S", *steps, op="add")
        )
        moved = await browser.post(
            f"{BASE}/sequences/new", data=editor(token, "S", *steps, op="up-1")
        )
        removed = await browser.post(
            f"{BASE}/sequences/new", data=editor(token, "S", *steps, op="remove-0")
        )
    assert added.status_code == moved.status_code == removed.status_code == 200

    def ids(html: str) -> list[str]:
        return re.findall(r'name="steps-\d+-id" value="([^"]*)"', html)

    assert ids(added.text) == ["first", "second", ""]
    assert ids(moved.text) == ["second", "first"]
    assert ids(removed.text) == ["second"]
    assert 'name="steps-0-kind"' in moved.text and "field-error" not in moved.text


async def test_draft_timeline_for_a_contact(api, tenant):
    async with signed_in(api, tenant) as (browser, token):
        form = editor(token, "Draft", *three_steps(), contact_id=str(tenant.contact_id))
        resp = await browser.post(f"{BASE}/sequences/preview", data=form)
        nobody = await browser.post(f"{BASE}/sequences/preview", data={**form, "contact_id": "0"})
        broken = await browser.post(
            f"{BASE}/sequences/preview", data={**form, "steps-1-title_template": "{{ nope }}"}
        )
    assert resp.status_code == 200, resp.text
    rows = re.findall(r'<tr class="timeline-step" data-step="(\d)">(.*?)</tr>', resp.text, re.S)
    assert [n for n, _ in rows] == ["1", "2", "3"]
    assert "call" in rows[0][1] and f"Call {tenant.contact_name}" in rows[0][1]
    due = [re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", html) for _, html in rows]
    assert due[0] is not None and due[1] is not None
    first = datetime.strptime(due[0].group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    second = datetime.strptime(due[1].group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs((first - datetime.now(UTC) - timedelta(days=1)).total_seconds()) < 120
    assert second - first == timedelta(days=2)
    assert due[2] is None and "after the previous task is completed" in rows[2][1]
    assert f"Connect with {tenant.contact_name} (3/3)" in rows[2][1]
    assert "choose a contact" in nobody.text
    assert "step 2 title" in broken.text and "nope" in broken.text


async def test_live_edit_says_what_it_does_then_how_many_migrated(api, tenant, sessions):
    steps = [api_step(s, "call", 1 + i) for i, s in enumerate("abcde")]
    definition = await define(api, tenant, "Five calls", steps)
    did = definition["id"]
    others = add_contacts(sessions, tenant.owner_id, "Bea Busy")
    for contact in (tenant.contact_id, *others):
        started = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": contact, "definition_id": did},
            headers=auth(tenant),
        )
        assert started.status_code == 201, started.text
    # Steps 3 and 4 changed, a new step 5 (no id yet), step e removed.
    edited = [
        step_form(0, step_id="a", wait="1", title=steps[0]["title_template"]),
        step_form(1, step_id="b", wait="2", title=steps[1]["title_template"]),
        step_form(2, step_id="c", wait="3", title="Changed {{ contact_name }}"),
        step_form(3, step_id="d", wait="9", title=steps[3]["title_template"]),
        step_form(4, kind="email", wait="1", title="New {{ contact_name }}"),
    ]
    async with signed_in(api, tenant) as (browser, token):
        page = await browser.get(f"{BASE}/sequences/{did}/edit")
        assert page.status_code == 200
        assert "Running enrollments: 2" in page.text
        assert "No step differs from version 1" in page.text
        form = editor(token, "Five calls", *edited, definition_id=str(did))
        preview = await browser.post(f"{BASE}/sequences/preview", data=form)
        said = re.sub(r"\s+", " ", preview.text)
        assert 'hx-swap-oob="true"' in said
        assert "2 running enrollments will adopt the new steps 3\u20135" in said
        assert "skip step 5 of version 1, removed" in said
        assert "finish on version 1" in said
        # Without JavaScript the page says it too, on every render of the form.
        rerender = await browser.post(f"{BASE}/sequences/{did}/edit", data={**form, "op": ""})
        assert "will adopt the new steps 3\u20135" in re.sub(r"\s+", " ", rerender.text)

        saved = await browser.post(
            f"{BASE}/sequences/{did}", data={**form, "apply_to_running": "future_steps"}
        )
        assert saved.status_code == 303, saved.text[:500]
        location = saved.headers["location"]
        assert "version=2" in location and "migrated=2" in location
        shown = await browser.get(location)
    assert "Sequence saved as version 2. 2 running enrollments adopted its new steps." in shown.text
    live = await api.get(f"{DEFINITIONS}{did}/", headers=auth(tenant))
    assert [s["id"] for s in live.json()["steps"]][:4] == ["a", "b", "c", "d"]
    assert live.json()["version"] == 2


async def test_enroll_one_then_many_and_see_progress(api, tenant, sessions):
    definition = await define(
        api,
        tenant,
        "Three kinds",
        [
            api_step("call-1", "call", 1, "enrollment"),
            api_step("email-2", "email", 2),
            api_step("todo-3", "todo", 1, "previous_completed"),
        ],
    )
    did = definition["id"]
    others = add_contacts(sessions, tenant.owner_id, "Bea Busy", "Cy Curious")
    async with signed_in(api, tenant) as (browser, token):
        form = await browser.get(f"{BASE}/sequences/{did}/enroll")
        assert form.status_code == 200 and "Bea Busy" in form.text
        none = await browser.post(f"{BASE}/sequences/{did}/enroll", data={"csrf": token})
        assert none.status_code == 422 and 'id="contact_ids-error"' in none.text

        one = await browser.post(
            f"{BASE}/sequences/{did}/enroll",
            data={"csrf": token, "contact_ids": str(tenant.contact_id)},
        )
        assert one.status_code == 303, one.text[:500]
        assert one.headers["location"].endswith("/progress?done=enrolled")
        progress = await browser.get(one.headers["location"])
        assert progress.status_code == 200
        html = progress.text
        assert "Enrolled." in html and 'id="enrollment-version">1<' in html
        steps = re.findall(r'<tr class="step-progress" data-step="([^"]+)">(.*?)</tr>', html, re.S)
        assert [s for s, _ in steps] == ["call-1", "email-2", "todo-3"]
        assert all(re.search(r'class="badge (pending|waiting)"', row) for _, row in steps)
        dashboard = (await browser.get(BASE)).text
        assert dashboard.count('<ol class="step-states"') == 1

        many = await browser.post(
            f"{BASE}/sequences/{did}/enroll",
            data={"csrf": token, "contact_ids": [str(tenant.contact_id), *map(str, others)]},
        )
        assert many.status_code == 303, many.text[:500]
        job_url = many.headers["location"]
        assert re.fullmatch(rf"{BASE}/sequences/{did}/enroll-jobs/\d+", job_url)
        job = await poll(
            lambda: browser.get(job_url), lambda r: 'id="job-status">completed<' in r.text, 30
        )
    assert 'id="job-status">completed<' in job.text, job.text
    assert 'id="job-enrolled">2<' in job.text and 'id="job-already">1<' in job.text
    assert (
        'id="job-total">3<' in job.text and "hx-trigger" not in job.text.split('id="job"')[1][:200]
    )


async def test_posts_without_origin_or_token_are_refused(api, tenant, sessions):
    definition = await define(api, tenant, "Guarded", [api_step("a", "call", 1)])
    async with signed_in(api, tenant) as (browser, token):
        cookies = browser.cookies
        async with httpx.AsyncClient(base_url=api.base_url, cookies=cookies) as no_origin:
            posts = [
                ("/sequences", editor(token, "Sneaky", step_form(0))),
                (f"/sequences/{definition['id']}", editor(token, "Renamed", step_form(0))),
                (f"/sequences/{definition['id']}/enroll",
                 {"csrf": token, "contact_ids": str(tenant.contact_id)}),
            ]  # fmt: skip
            for path, data in posts:
                resp = await no_origin.post(BASE + path, data=data)
                assert resp.status_code == 403, path
                assert "Reload the page" in resp.text
        evil = await browser.post(
            f"{BASE}/sequences",
            data=editor(token, "Sneaky", step_form(0)),
            headers={"Origin": "https://evil.example"},
        )
        no_token = await browser.post(f"{BASE}/sequences", data=editor("", "Sneaky", step_form(0)))
        assert evil.status_code == no_token.status_code == 403
    with sessions() as s:
        names = set(
            s.scalars(
                select(SequenceDefinition.name).where(
                    SequenceDefinition.owner_id == tenant.owner_id
                )
            )
        )
    assert names == {"Guarded"}
    async with browser_for(api) as stranger:  # not signed in: sent to the sign-in form
        resp = await stranger.get(f"{BASE}/sequences/{definition['id']}/edit")
        assert resp.status_code == 303 and "/sign-in?next=" in resp.headers["location"]


async def test_progress_page_of_a_preset_and_never_of_another_owners(api, make_tenant):
    me, other = make_tenant(), make_tenant("Zed Secretname")
    runs = {}
    for who in (me, other):
        started = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": who.contact_id, "sequence_type": "gentle"},
            headers=auth(who),
        )
        assert started.status_code == 201, started.text
        runs[who.owner_id] = started.json()["workflow_id"]
    async with signed_in(api, me) as (browser, _):
        mine = await browser.get(f"{BASE}/sequences/{runs[me.owner_id]}/progress")
        theirs = await browser.get(f"{BASE}/sequences/{runs[other.owner_id]}/progress")
        dashboard = (await browser.get(BASE)).text
    assert mine.status_code == 200
    assert 'id="enrollment-state">running<' in mine.text
    assert re.search(r"<h2>Planned steps</h2>\s*<ol>(\s*<li>due [^<]+</li>){4}", mine.text)
    assert f'href="{BASE}/sequences/{runs[me.owner_id]}/progress"' in dashboard
    assert theirs.status_code == 404 and "Zed" not in theirs.text


async def test_exit_conditions_ticked_are_saved(api, tenant):
    async with signed_in(api, tenant) as (browser, token):
        new = await browser.get(f"{BASE}/sequences/new")
        assert "<legend>Ends early when</legend>" in new.text
        assert ticked(new.text) == (["email_replied", "meeting_booked"], ["active", "lost"])
        assert "> books a meeting</label>" in new.text  # in words; the value is the API's
        copy = await browser.get(f"{BASE}/sequences/new?copy=1")  # a built-in's: the defaults
        assert ticked(copy.text) == (["email_replied", "meeting_booked"], ["active", "lost"])

        # meeting_booked and active unticked, form_submitted ticked.
        form = editor(
            token, "Exits", step_form(0), **exits(["email_replied", "form_submitted"], ["lost"])
        )
        created = await browser.post(f"{BASE}/sequences", data=form)
        assert created.status_code == 303, created.text[:500]
        did = re.search(r"definition=(\d+)", created.headers["location"])
        assert did is not None
        # Nothing ticked is allowed: only the steps end it.
        bare = editor(token, "No exits", step_form(0), **exits([], []))
        none = await browser.post(f"{BASE}/sequences", data=bare)
        assert none.status_code == 303, none.text[:500]
        bare_id = re.search(r"definition=(\d+)", none.headers["location"])
        assert bare_id is not None
        edit = await browser.get(f"{BASE}/sequences/{did.group(1)}/edit")
    assert ticked(edit.text) == (["email_replied", "form_submitted"], ["lost"])
    saved = await api.get(f"{DEFINITIONS}{did.group(1)}/", headers=auth(tenant))
    assert saved.json()["exit_on"] == {
        "activity_types": ["email_replied", "form_submitted"],
        "statuses": ["lost"],
    }
    empty = await api.get(f"{DEFINITIONS}{bare_id.group(1)}/", headers=auth(tenant))
    assert empty.json()["exit_on"] == {"activity_types": [], "statuses": []}


async def test_editing_only_the_exit_conditions_makes_a_new_version(api, tenant):
    steps = [api_step("a", "call", 1), api_step("b", "email", 2)]
    exit_on = {"activity_types": ["meeting_booked", "email_replied"], "statuses": ["lost"]}
    body = {"name": "Two", "steps": steps, "exit_on": exit_on}
    made = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert made.status_code == 201, made.text
    did = made.json()["id"]
    same = [
        step_form(0, step_id="a", wait="1", title=steps[0]["title_template"]),
        step_form(1, step_id="b", kind="email", wait="2", title=steps[1]["title_template"]),
    ]
    async with signed_in(api, tenant) as (browser, token):
        page = await browser.get(f"{BASE}/sequences/{did}/edit")
        assert ticked(page.text) == (["email_replied", "meeting_booked"], ["lost"])
        unchanged = editor(
            token, "Two", *same, **exits(["email_replied", "meeting_booked"], ["lost"])
        )
        changed = editor(token, "Two", *same, **exits(["email_replied"], ["active", "lost"]))

        # What saving would do, before saving: said in words, the steps untouched.
        preview = await browser.post(
            f"{BASE}/sequences/preview", data={**changed, "definition_id": str(did)}
        )
        said = re.sub(r"\s+", " ", preview.text)
        assert "0 running enrollments will end early on the new conditions" in said
        assert "adopt the new step" not in said
        calm = await browser.post(
            f"{BASE}/sequences/preview", data={**unchanged, "definition_id": str(did)}
        )
        assert "No step differs from version 1" in calm.text

        # The same conditions (in the page's order, not the API's) are no change.
        kept = await browser.post(f"{BASE}/sequences/{did}", data=unchanged)
        assert kept.status_code == 303 and "version=1" in kept.headers["location"]
        saved = await browser.post(f"{BASE}/sequences/{did}", data=changed)
        assert saved.status_code == 303, saved.text[:500]
        assert "version=2" in saved.headers["location"]
        # A form without the checkboxes (a page from before them) leaves them as they are.
        renamed = await browser.post(f"{BASE}/sequences/{did}", data=editor(token, "Two!", *same))
        assert renamed.status_code == 303 and "version=2" in renamed.headers["location"]
    live = (await api.get(f"{DEFINITIONS}{did}/", headers=auth(tenant))).json()
    assert live["version"] == 2 and live["name"] == "Two!"
    assert live["exit_on"] == {"activity_types": ["email_replied"], "statuses": ["active", "lost"]}
    assert [(st["id"], st["kind"], st["wait"]) for st in live["steps"]] == [
        ("a", "call", {"days": 1}), ("b", "email", {"days": 2})
    ]  # fmt: skip
    assert live["steps"] == made.json()["steps"]


async def test_a_tampered_exit_condition_is_an_error_beside_it(api, tenant, sessions):
    definition = await define(api, tenant, "Guarded exits", [api_step("a", "call", 1)])
    did = definition["id"]
    async with signed_in(api, tenant) as (browser, token):
        bad = editor(
            token, "Tampered", step_form(0), **exits(["email_replied", "hacked"], ["lost"])
        )
        resp = await browser.post(f"{BASE}/sequences", data=bad)
        assert owned_definitions(sessions, tenant.owner_id) == 1
        edit = editor(token, "Guarded exits", step_form(0, step_id="a"),
                      **exits(["email_replied"], ["<b>gone</b>"]))  # fmt: skip
        edited = await browser.post(f"{BASE}/sequences/{did}", data=edit)
        preview = await browser.post(f"{BASE}/sequences/preview", data=bad)
    assert resp.status_code == 422 and "Nothing was saved" in resp.text
    beside = re.search(
        r'<fieldset class="exits" id="exit_on" aria-describedby="exit_on-error">\s*'
        r"<legend>Ends early when</legend>\s*<input [^>]*>\s*"
        r'<p class="field-error" id="exit_on-error" role="alert">([^<]*)</p>',
        resp.text,
    )
    assert beside is not None, resp.text
    assert "&#39;hacked&#39; is not an activity" in beside.group(1)
    assert ticked(resp.text) == (["email_replied"], ["lost"])  # as posted, bar the bad one
    assert resp.text.count('class="field-error"') == 1  # the one problem, and only there
    assert edited.status_code == 422
    assert "&lt;b&gt;gone&lt;/b&gt;" in edited.text and "is not a contact status" in edited.text
    assert "<b>gone</b>" not in edited.text
    assert "ends early when" in preview.text  # the preview names where the problem is
    live = (await api.get(f"{DEFINITIONS}{did}/", headers=auth(tenant))).json()
    assert live["version"] == 1 and live["exit_on"]["statuses"] == ["active", "lost"]


def options_chosen(html: str, select_id: str) -> list[str]:
    """The option values a select shows selected."""
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, select_id
    return re.findall(r'<option value="([^"]+)" selected>', select.group(1))


async def test_steps_wait_business_days_and_land_in_contact_hours(api, tenant, sessions):
    calendar = {"timezone": "Europe/Berlin", "working_hours": {"sun": [["03:00", "03:01"]]}}
    put = await api.put("/api/account/calendar/", json=calendar, headers=auth(tenant))
    assert put.status_code == 200, put.text
    steps = [
        step_form(0, wait="2", unit="business_days", anchor="enrollment",
                  placement="contact_hours"),
        step_form(1, kind="email", wait="1", title="Email {{ contact_name }}"),
    ]  # fmt: skip
    async with signed_in(api, tenant) as (browser, token):
        new = await browser.get(f"{BASE}/sequences/new")
        assert options_chosen(new.text, "steps-0-placement") == ["anytime"]
        assert '<option value="business_days" >business days</option>' in new.text
        fraction = {**steps[0], "steps-0-wait_amount": "1.5"}
        bad = await browser.post(f"{BASE}/sequences", data=editor(token, "Placed", fraction))
        assert owned_definitions(sessions, tenant.owner_id) == 0
        preview = await browser.post(
            f"{BASE}/sequences/preview",
            data=editor(token, "Placed", *steps, contact_id=str(tenant.contact_id)),
        )
        created = await browser.post(f"{BASE}/sequences", data=editor(token, "Placed", *steps))
        assert created.status_code == 303, created.text[:800]
        did = re.search(r"definition=(\d+)", created.headers["location"])
        assert did is not None
        edit = await browser.get(f"{BASE}/sequences/{did.group(1)}/edit")
    assert bad.status_code == 422
    wait = re.search(r'id="steps-0-wait-error"[^>]*>([^<]*)<', bad.text)
    assert wait is not None and "integer" in wait.group(1)
    rows = re.findall(r'<tr class="timeline-step" data-step="(\d)">(.*?)</tr>', preview.text, re.S)
    assert len(rows) == 2
    assert 'class="sub due-local">yours: Sun ' in rows[0][1]
    assert 'class="sub muted placement-reason">' in rows[0][1]  # why it moved
    saved = (await api.get(f"{DEFINITIONS}{did.group(1)}/", headers=auth(tenant))).json()
    assert saved["version"] == 1
    assert [(s["wait"], s["placement"]) for s in saved["steps"]] == [
        ({"business_days": 2}, "contact_hours"), ({"days": 1}, "anytime")
    ]  # fmt: skip
    assert options_chosen(edit.text, "steps-0-wait_unit") == ["business_days"]
    assert options_chosen(edit.text, "steps-0-placement") == ["contact_hours"]
    assert 'name="steps-0-wait_amount" value="2"' in edit.text
    assert options_chosen(edit.text, "steps-1-placement") == ["anytime"]
