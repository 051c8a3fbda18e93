"""Owners and their API keys. Only a hash of each key is stored."""

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.core.models import Owner

KEY_PREFIX = "nk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_owner(session: Session, name: str) -> tuple[Owner, str]:
    """Add an owner; returns it with its API key, which is shown this once."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    owner = Owner(name=name, api_key_hash=hash_key(key), api_key_prefix=key[:10])
    session.add(owner)
    session.flush()
    return owner, key


def owner_for_key(session: Session, key: str) -> Owner | None:
    return session.scalar(select(Owner).where(Owner.api_key_hash == hash_key(key)))
