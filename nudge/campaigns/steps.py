"""A campaign's steps in order, and the snapshot of them an enrollment walks."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.campaigns.payloads import StepSpec
from nudge.core.models import AutomationStep


def steps_of(session: Session, campaign_id: int) -> list[AutomationStep]:
    return list(
        session.scalars(
            select(AutomationStep)
            .where(AutomationStep.campaign_id == campaign_id)
            .order_by(AutomationStep.order)
        )
    )


def step_specs(session: Session, campaign_id: int) -> list[StepSpec]:
    return [
        StepSpec(step_id=s.id, order=s.order, message_type=s.message_type, name=s.name,
                 body=s.body, delay_days=s.delay_days)
        for s in steps_of(session, campaign_id)
    ]  # fmt: skip
