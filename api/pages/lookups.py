"""Names the page shows beside ids, always within the signed-in owner's rows."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.models import Contact


def contact_names(session: Session, owner_id: int, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(
        select(Contact.id, Contact.name).where(Contact.id.in_(wanted), Contact.owner_id == owner_id)
    )
    return {row.id: row.name for row in rows}
