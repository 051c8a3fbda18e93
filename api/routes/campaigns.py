"""Campaigns with ordered steps, and enrolling contacts in them."""

from fastapi import APIRouter, status

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep
from api.params import IdPath
from nudge.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    EnrollIn,
    EnrollmentOut,
    EnrollOut,
    StepOut,
)
from nudge.campaigns.service import enroll, owned_campaign
from nudge.campaigns.steps import steps_of
from nudge.core.models import AutomationStep, Campaign

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], route_class=JsonBoundaryRoute)


def _out(campaign: Campaign, steps: list[AutomationStep]) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        placement=campaign.placement,
        steps=[StepOut.model_validate(s) for s in steps],
        created_at=campaign.created_at,
    )


@router.post("/", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
def create_campaign(body: CampaignIn, owner: OwnerDep, session: SessionDep) -> CampaignOut:
    """A campaign and its steps. A `task` step makes a task `delay_days` after the previous
    step; other message types (email, sms, …) are recorded as skipped, in order."""
    campaign = Campaign(owner_id=owner.id, name=body.name, placement=body.placement)
    session.add(campaign)
    session.flush()
    steps = [AutomationStep(campaign_id=campaign.id, **s.model_dump()) for s in body.steps]
    session.add_all(steps)
    session.commit()
    return _out(campaign, sorted(steps, key=lambda s: s.order))


@router.get("/{campaign_id}/", response_model=CampaignOut, responses={404: {}})
def get_campaign(campaign_id: IdPath, owner: OwnerDep, session: SessionDep) -> CampaignOut:
    campaign = owned_campaign(session, owner.id, campaign_id)
    return _out(campaign, steps_of(session, campaign_id))


@router.post(
    "/{campaign_id}/enroll/",
    response_model=EnrollOut,
    responses={
        404: {
            "description": "No such campaign, or some `contact_ids` unknown (or another "
            "owner's): the detail names them, and nobody was enrolled."
        },
        503: {},
    },
)
async def enroll_contacts(
    campaign_id: IdPath,
    body: EnrollIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> EnrollOut:
    """Enroll contacts: each gets one workflow (`campaign-{campaign}-{contact}`) and one
    batch with progress. Enrolling someone again changes nothing (`created: false`)."""
    enrolled = await enroll(
        client, sessions, settings.task_queue, owner.id, campaign_id, body.contact_ids
    )
    return EnrollOut(
        enrollments=[
            EnrollmentOut(
                contact_id=e.contact_id,
                workflow_id=e.workflow_id,
                batch_id=e.batch_id,
                created=e.created,
            )
            for e in enrolled
        ]
    )
