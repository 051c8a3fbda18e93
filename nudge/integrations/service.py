"""CRM connections: create, read, change and delete an owner's (another owner's is not
found), and the dry run of a payload through one."""

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.core.errors import NotFound
from nudge.core.models import Contact, InboundEvent, Integration, Rule
from nudge.integrations.providers import LABELS, Malformed, Mappings, interpret, parse
from nudge.integrations.schemas import (
    ContactPreview,
    EventPreview,
    IntegrationIn,
    IntegrationOut,
    RuleRef,
    TestItem,
    TestOut,
    masked,
)
from nudge.platform.listing import page
from nudge.rules.triggers import matches

FIELDS = tuple(IntegrationIn.model_fields)


def inbound_path(provider: str, integration_id: int) -> str:
    return f"api/inbound/{provider}/{integration_id}/"


def integration_out(row: Integration, base_url: str) -> IntegrationOut:
    """`base_url` is the API's own (ending in /), as the request reached it."""
    return IntegrationOut(
        id=row.id,
        provider=row.provider,
        name=row.name,
        inbound_url=base_url + inbound_path(row.provider, row.id),
        secret=masked(row.secret),
        status_property=row.status_property,
        status_mapping=dict(row.status_mapping),
        activity_mapping=dict(row.activity_mapping),
        score_property=row.score_property,
        received=row.received,
        refused=row.refused,
        last_received_at=row.last_received_at,
        last_refusal=row.last_refusal,
        last_refused_at=row.last_refused_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def owned_integration(session: Session, owner_id: int, integration_id: int) -> Integration:
    row = session.scalar(
        select(Integration).where(
            Integration.id == integration_id, Integration.owner_id == owner_id
        )
    )
    if row is None:
        raise NotFound(f"integration {integration_id} not found")
    return row


def _apply(row: Integration, body: IntegrationIn) -> None:
    row.provider = body.provider
    row.name = body.name or LABELS[body.provider]
    row.secret = body.secret
    row.status_property = body.status_property
    row.status_mapping = dict(body.status_mapping)
    row.activity_mapping = dict(body.activity_mapping)
    row.score_property = body.score_property


def create_integration(session: Session, owner_id: int, body: IntegrationIn) -> Integration:
    row = Integration(owner_id=owner_id, received=0, refused=0)
    _apply(row, body)
    session.add(row)
    session.commit()
    return row


def list_integrations(
    session: Session, owner_id: int, limit: int, offset: int
) -> tuple[list[Integration], int]:
    return page(
        session,
        Integration,
        [Integration.owner_id == owner_id],
        [Integration.id],
        limit,
        offset,
    )


def replace_integration(
    session: Session, owner_id: int, integration_id: int, body: IntegrationIn
) -> Integration:
    row = owned_integration(session, owner_id, integration_id)
    _apply(row, body)
    session.commit()
    return row


def merged(row: Integration, changes: dict[str, Any]) -> IntegrationIn:
    """The stored connection with some fields changed, checked as a whole (ValidationError)."""
    values = {name: getattr(row, name) for name in FIELDS}
    values.update(changes)
    return IntegrationIn.model_validate(values)


def patch_integration(
    session: Session, owner_id: int, integration_id: int, changes: dict[str, Any]
) -> Integration:
    """ValidationError when the merged connection is invalid (e.g. a new provider's secret)."""
    row = owned_integration(session, owner_id, integration_id)
    body = merged(row, changes)
    _apply(row, body)
    session.commit()
    return row


def delete_integration(session: Session, owner_id: int, integration_id: int) -> None:
    """Its stored inbound events go with it; contacts and events it brought in stay."""
    row = owned_integration(session, owner_id, integration_id)
    session.delete(row)
    session.commit()


def _rules(session: Session, owner_id: int) -> list[Rule]:
    return list(
        session.scalars(
            select(Rule)
            .where(
                Rule.owner_id == owner_id,
                Rule.is_active.is_(True),
                Rule.trigger_type.in_(("status_change", "activity")),
            )
            .order_by(Rule.id)
        )
    )


def dry_run(session: Session, owner_id: int, row: Integration, payload: Any) -> TestOut:
    """What Nudge would do with `payload` (unsigned), event by event; writes nothing.
    Malformed (422, naming the field under `payload`) if it isn't what the provider sends."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    try:
        events = parse(row.provider, payload, raw, {})  # type: ignore[arg-type]  # a stored Provider
    except Malformed as err:
        raise Malformed(("payload", *err.loc), err.problem) from None
    mappings, rules = Mappings.of(row), _rules(session, owner_id)
    received = set(
        session.scalars(
            select(InboundEvent.dedupe_key).where(
                InboundEvent.integration_id == row.id,
                InboundEvent.dedupe_key.in_([e.dedupe_key for e in events]),
            )
        )
    )
    seen: dict[str, ContactPreview] = {}  # contacts as the earlier events leave them
    items = []
    for event in events:
        plan = interpret(event, mappings)
        item = TestItem(
            kind=event.kind,
            dedupe_key=event.dedupe_key,
            contact=None,
            score=plan.score,
            events=[],
            rules_that_would_fire=[],
            ignored=list(plan.ignored),
        )
        items.append(item)
        if event.dedupe_key in received:
            item.ignored.append("received before: a delivery of it now is refused (409)")
        if not plan.upsert or plan.external_id is None:
            continue
        contact = seen.get(plan.external_id)
        if contact is None:
            stored = session.scalar(
                select(Contact).where(
                    Contact.owner_id == owner_id, Contact.external_id == plan.external_id
                )
            )
            contact = ContactPreview(
                id=stored.id if stored else None,
                would_be_created=stored is None,
                external_id=plan.external_id,
                name=stored.name if stored else plan.placeholder,
                email=stored.email if stored else None,
                status=stored.status if stored else "lead",
            )
        contact = contact.model_copy(
            update={"name": plan.name or contact.name, "email": plan.email or contact.email}
        )
        item.contact = contact
        old = contact.status
        if plan.status is not None:
            item.events.append(EventPreview(kind="status_change", new_status=plan.status))
            if plan.status == old:
                item.ignored.append(f"the status is {old} already: recorded, no rule fires")
            seen[plan.external_id] = contact.model_copy(update={"status": plan.status})
        else:
            seen[plan.external_id] = contact
        if plan.activity is not None:
            item.events.append(EventPreview(kind="activity", activity_type=plan.activity))
        for event_preview in item.events:
            if event_preview.new_status == old:
                continue
            item.rules_that_would_fire += [
                RuleRef(id=rule.id, name=rule.name)
                for rule in rules
                if rule.trigger_type == event_preview.kind
                and matches(
                    rule.trigger_type,
                    rule.trigger_config,
                    activity_type=event_preview.activity_type,
                    old_status=old,
                    new_status=event_preview.new_status,
                )
            ]
    return TestOut(items=items)
