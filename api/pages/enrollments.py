"""Enrolling contacts in a sequence from the page: one contact starts at once (and the page
shows its progress), several become a bulk enrollment job (and the page shows its counts)."""

from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.deps import ClientDep, SessionsDep, SettingsDep
from api.pages.forms import chosen_id, owner_contacts, problem_message, typed_number
from api.pages.render import render
from api.pages.session import BASE, PageDep, PageSession, PostDep
from api.params import IdPath
from nudge.contacts.lookup import contact_names
from nudge.core.errors import ContactNotFound
from nudge.sequences import enroll
from nudge.sequences.definition_schemas import DefinitionOut, EnrollIn
from nudge.sequences.definitions import definition_out, visible_definition
from nudge.sequences.start import schedule_sequence

router = APIRouter(prefix=f"{BASE}/sequences", tags=["web page"])
FINISHED = ("completed", "failed")  # a job's states after which its page stops refreshing


@dataclass
class EnrollForm:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> "EnrollForm":
        return cls({"contact_ids": [], "start_delay_hours": "0"})

    @classmethod
    def from_post(cls, form: FormData) -> "EnrollForm":
        return cls(
            {
                "contact_ids": [str(v) for v in form.getlist("contact_ids")],
                "start_delay_hours": str(form.get("start_delay_hours", "")).strip(),
            }
        )

    def checked(self) -> EnrollIn | None:
        """Who to enroll, checked as the API checks it; None with `errors` filled in."""
        picked = [chosen_id(v) for v in self.values["contact_ids"]]
        if not picked:
            self.errors["contact_ids"] = "choose at least one contact"
            return None
        body = {
            "contact_ids": picked,  # a None here is refused as "not a valid integer"
            "start_delay_hours": typed_number(self.values["start_delay_hours"] or "0"),
        }
        try:
            return EnrollIn.model_validate(body)
        except ValidationError as err:
            for problem in err.errors():
                where = str(problem["loc"][0]) if problem["loc"] else "contact_ids"
                self.errors.setdefault(where, problem_message(problem, where))
            return None


def _definition(sessions: SessionsDep, owner_id: int, definition_id: int) -> DefinitionOut:
    with sessions() as session:
        found = visible_definition(session, owner_id, definition_id)
        return definition_out(session, owner_id, found)


async def _form_page(
    request: Request,
    page: PageSession,
    sessions: SessionsDep,
    definition: DefinitionOut,
    form: EnrollForm,
    status_code: int = 200,
) -> HTMLResponse:
    contacts = await to_thread.run_sync(owner_contacts, sessions, page.owner.id)
    context = {"page": page, "definition": definition, "form": form, "contacts": contacts}
    return render(request, "definition_enroll.html", context, status_code)


@router.get("/{definition_id}/enroll", response_class=HTMLResponse, summary="Form: enroll")
async def enroll_form(
    definition_id: IdPath, request: Request, page: PageDep, sessions: SessionsDep
) -> HTMLResponse:
    definition = await to_thread.run_sync(_definition, sessions, page.owner.id, definition_id)
    return await _form_page(request, page, sessions, definition, EnrollForm.blank())


@router.post("/{definition_id}/enroll", response_class=HTMLResponse, summary="Enroll contacts")
async def enroll_contacts(
    definition_id: IdPath,
    request: Request,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> Response:
    """One contact: its enrollment starts now (again is harmless: the running one is shown).
    Several: a bulk job, as POST …/definitions/{id}/enroll/ starts it."""
    definition = await to_thread.run_sync(_definition, sessions, page.owner.id, definition_id)
    form = EnrollForm.from_post(await request.form())
    body = form.checked()
    if body is not None and body.contact_ids is not None and len(body.contact_ids) == 1:
        try:
            started = await schedule_sequence(
                client,
                sessions,
                task_queue=settings.task_queue,
                owner_id=page.owner.id,
                contact_id=body.contact_ids[0],
                start_delay_hours=body.start_delay_hours,
                definition_id=definition_id,
            )
        except ContactNotFound as err:
            form.errors["contact_ids"] = err.message
        else:
            done = "enrolled" if started.started else "already-enrolled"
            return RedirectResponse(
                f"{BASE}/sequences/{started.workflow_id}/progress?done={done}", 303
            )
    elif body is not None:
        job_id = await enroll.start_job(
            client, sessions, settings.task_queue, page.owner.id, definition_id, body
        )
        return RedirectResponse(f"{BASE}/sequences/{definition_id}/enroll-jobs/{job_id}", 303)
    return await _form_page(request, page, sessions, definition, form, 422)


@router.get(
    "/{definition_id}/enroll-jobs/{job_id}",
    response_class=HTMLResponse,
    summary="A bulk enrollment's counts",
)
async def enroll_job(
    definition_id: IdPath,
    job_id: IdPath,
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
) -> HTMLResponse:
    """Enrolled, already enrolled, skipped (with why), failed and pending, refreshed by htmx
    until the job has finished."""

    def read() -> tuple[DefinitionOut, dict[str, Any], dict[int, str]]:
        with sessions() as session:
            found = visible_definition(session, page.owner.id, definition_id)
            report = enroll.job_report(session, page.owner.id, definition_id, job_id)
            listed = report["skipped_contacts"] + report["failed_contacts"]
            names = contact_names(session, page.owner.id, (c["contact_id"] for c in listed))
            return definition_out(session, page.owner.id, found), report, names

    definition, report, names = await to_thread.run_sync(read)
    context = {
        "page": page,
        "definition": definition,
        "job": report,
        "names": names,
        "finished": report["status"] in FINISHED,
    }
    return render(request, "enroll_job.html", context)
