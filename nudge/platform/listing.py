"""One page of an owner-scoped listing, with the total the filters match."""

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

M = TypeVar("M")


def page(
    session: Session,
    model: type[M],
    where: list[ColumnElement[bool]],
    order_by: list[Any],
    limit: int,
    offset: int,
) -> tuple[list[M], int]:
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    rows = session.scalars(
        select(model).where(*where).order_by(*order_by).limit(limit).offset(offset)
    )
    return list(rows), total


def equal_to(model: type, **values: object) -> list[ColumnElement[bool]]:
    """`column == value` for each filter given (None means "not filtered")."""
    return [getattr(model, name) == value for name, value in values.items() if value is not None]
