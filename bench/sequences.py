"""POST /schedule-sequence/ against a raw start of the same workflow, 20 in flight.

Nudge: POST /api/task-automation/schedule-sequence/ (standard preset) over HTTP: the batch
row, the start, the planned steps. Floor: `start_sequence` (the same SequenceWorkflow, id,
search attributes, memo and summary) straight on the Temporal client, its batch row written
beforehand, untimed. Both run on the same server with the same worker serving what they
started; the halves alternate floor, Nudge, Nudge, floor so drift on a shared machine
cancels out.
"""

from sqlalchemy.orm import Session

from bench.common import Results, in_flight_row, say
from bench.stage import Stage
from nudge.core.models import Contact
from nudge.platform.db import transaction
from nudge.sequences.batches import sequence_batch
from nudge.sequences.payloads import SequenceInput
from nudge.sequences.starts import start_sequence

SCHEDULE = "/api/task-automation/schedule-sequence/"


def _batches(session: Session, stage: Stage, contacts: list[int]) -> list[int]:
    """The batch rows the API would write, for the floor's starts (not timed)."""
    ids = []
    for contact_id in contacts:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        batch = sequence_batch(contact, "standard", 0)
        session.add(batch)
        session.flush()
        ids.append(batch.id)
    return ids


async def main(stage: Stage, results: Results, n: int, concurrency: int) -> None:
    say(f"\n== schedule-sequence: {n} starts each side, {concurrency} in flight")
    nudge_contacts = stage.contacts[:n]
    floor_contacts = stage.contacts[n : 2 * n]
    with transaction(stage.sessions) as session:
        batches = _batches(session, stage, floor_contacts)

    async def floor_start(i: int) -> None:
        inp = SequenceInput(
            owner_id=stage.owner_id,
            contact_id=floor_contacts[i],
            batch_id=batches[i],
            sequence_type="standard",
        )
        await start_sequence(stage.client, stage.queue, inp, contact_name=f"Contact {i}")

    async def nudge_start(i: int) -> None:
        resp = await stage.http.post(
            SCHEDULE, json={"contact_id": nudge_contacts[i], "sequence_type": "standard"}
        )
        assert resp.status_code == 201, resp.text

    results.add(
        await in_flight_row(
            "POST /schedule-sequence/ throughput, 20 in flight",
            {"floor": floor_start, "nudge": nudge_start},
            n,
            concurrency,
            "raw start_workflow of SequenceWorkflow",
            "starts",
        )
    )
