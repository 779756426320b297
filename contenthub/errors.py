"""Domain errors: values a person can act on (which field, what was wrong, what is allowed).

Services raise these; the HTTP layer turns them into 4xx JSON bodies and the CLI into messages.
They carry no HTTP machinery so service code never imports FastAPI.
"""

from __future__ import annotations

from typing import Any

from contenthub.i18n import _


class ProblemError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        allowed: list[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.allowed = allowed
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.value is not None:
            body["value"] = self.value
        if self.allowed is not None:
            body["allowed"] = self.allowed
        body.update(self.extra)
        return body


class InvalidError(ProblemError):
    status = 422
    code = "invalid"


class NotFoundError(ProblemError):
    status = 404
    code = "not_found"


class ConflictError(ProblemError):
    status = 409
    code = "conflict"


class GoneError(ProblemError):
    status = 410
    code = "gone"


class TooLargeError(ProblemError):
    status = 413
    code = "too_large"


class UnsupportedMediaError(ProblemError):
    status = 415
    code = "unsupported_media_type"


class UnauthorizedError(ProblemError):
    status = 401
    code = "unauthorized"


class ForbiddenError(ProblemError):
    status = 403
    code = "forbidden"


class RateLimitedError(ProblemError):
    status = 429
    code = "rate_limited"


def unknown_value(field: str, value: Any, allowed: list[str]) -> InvalidError:
    """The one message shape for 'not in the vocabulary' so API, CLI and pages agree."""
    shown = ", ".join(allowed)
    return InvalidError(
        _("Unknown {field} '{value}'. Allowed values: {allowed}.").format(field=field, value=value, allowed=shown),
        field=field,
        value=value,
        allowed=allowed,
    )


class StoreUnavailableError(ProblemError):
    """The store cannot answer now (cluster unreachable, no master, shards unavailable, database locked):
    nothing about the request is wrong and nothing was lost that the caller was told was stored, so the
    same request is worth sending again after ``retry_after`` seconds. Raised by the store layer only
    (``contenthub.store.outage``); the HTTP layer answers 503 with ``Retry-After``."""

    status = 503
    code = "store_unavailable"
