"""Domain errors the API turns into clear 4xx answers."""


class NudgeError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(NudgeError):
    status_code = 404


class ContactNotFound(NotFound):
    def __init__(self, contact_id: int) -> None:
        super().__init__(f"contact {contact_id} not found (create it with POST /api/contacts/)")


class Conflict(NudgeError):
    status_code = 409


class TemporalUnavailable(NudgeError):
    status_code = 503


class Unprocessable(NudgeError):
    status_code = 422
