"""Alembic environment: the URL comes from the config or from Nudge's settings.

The live models are here only for `alembic revision --autogenerate` to compare against;
a migration itself imports none of them (it must not change when today's model does)."""

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext

from nudge.core.models import Base, UTCDateTime
from nudge.platform.db import make_engine
from nudge.platform.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write our UTC column type as the plain column it is in the database."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
