"""Temporal client, workflow ids and search attributes: one place for each."""

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter

from nudge.settings import Settings

OWNER_ID = SearchAttributeKey.for_keyword("NudgeOwnerId")
CONTACT_ID = SearchAttributeKey.for_keyword("NudgeContactId")
KIND = SearchAttributeKey.for_keyword("NudgeKind")
SEARCH_ATTRIBUTES = (OWNER_ID, CONTACT_ID, KIND)

DATA_CONVERTER = pydantic_data_converter


def sequence_workflow_id(owner_id: int, contact_id: int, sequence_type: str) -> str:
    return f"sequence-{owner_id}-{contact_id}-{sequence_type}"


def dev_server_search_attribute_args() -> list[str]:
    """`temporal server start-dev` flags that register our search attributes."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.namespace,
        data_converter=DATA_CONVERTER,
        lazy=lazy,
    )


def unreachable(err: BaseException) -> bool:
    """A lazy client that can't reach the server raises a plain RuntimeError, not RPCError."""
    return isinstance(err, RuntimeError) and str(err).startswith("Failed client connect")
