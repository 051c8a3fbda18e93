"""Calendar-aware timing: working hours, business days, holidays, time zones, best send time, the ICS feed."""  # noqa: E501
