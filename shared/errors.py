"""Domain errors; one middleware maps them to JSON HTTP answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An error the client caused or must know about; `status` is its HTTP status."""

    status = 400
    detail = "Bad request."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Fields of the JSON error body besides `request_id`."""
        return {"detail": self.detail}


class BadRequest(DomainError):
    """The request is malformed."""


class Unauthorized(DomainError):
    """Credentials missing or wrong."""

    status = 401
    detail = "Not authenticated."


class Forbidden(DomainError):
    """Authenticated but not allowed."""

    status = 403
    detail = "Forbidden."


class NotFound(DomainError):
    """No such resource."""

    status = 404
    detail = "Not found."


class Gone(DomainError):
    """The resource exists but no longer takes requests."""

    status = 410


class Conflict(DomainError):
    """The request conflicts with the current state."""

    status = 409


class PayloadTooLarge(DomainError):
    """The body is larger than allowed."""

    status = 413
    detail = "Payload too large."


class ValidationFailed(DomainError):
    """The input does not validate; `errors` lists each field's problem."""

    status = 422
    detail = "Validation failed."

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail)
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """Include field errors."""
        return {"detail": self.detail, "errors": self.errors}


class RateLimited(DomainError):
    """Too many requests from this client."""

    status = 429
    detail = "Too many requests."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(DomainError):
    """A dependency cannot take the request now; retry later."""

    status = 503
    detail = "Service unavailable."

    def __init__(self, detail: str | None = None, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
