"""One policy decides which contact events end a sequence and which end check-ins."""

import pytest

from nudge.core.contact_events import ContactEvent, ends_cadence, ends_sequence


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (ContactEvent(type="email_replied"), "contact event: email_replied"),
        (ContactEvent(type="meeting_booked"), "contact event: meeting_booked"),
        (ContactEvent(type="status_change", status="active"), "contact status changed to active"),
        (ContactEvent(type="status_change", status="lost"), "contact status changed to lost"),
        (ContactEvent(type="email_opened"), None),
        (ContactEvent(type="status_change", status="prospect"), None),
        (ContactEvent(type="status_change", status="inactive"), None),
    ],
)
def test_which_events_end_a_sequence(event, reason):
    assert ends_sequence(event) == reason


@pytest.mark.parametrize(
    ("status", "ends"),
    [("lost", True), ("inactive", True), ("active", False), ("prospect", False), (None, False)],
)
def test_which_statuses_end_check_ins(status, ends):
    """Customers keep their check-ins; lost and inactive contacts don't."""
    reason = ends_cadence(ContactEvent(type="status_change", status=status))
    assert (reason is not None) == ends
    assert ends_cadence(ContactEvent(type="email_replied")) is None
