"""Errors of a console form, by field, for showing beside the inputs (never a JSON page)."""

from __future__ import annotations

from pydantic import ValidationError

from contenthub.error_text import field_of, pydantic_message
from contenthub.errors import ProblemError

FORM = "_form"
"""Key of an error that belongs to no one field (shown at the top of the form)."""


def field_errors(exc: ProblemError | ValidationError, fields: tuple[str, ...]) -> dict[str, str]:
    """``{field: message}`` for the form's ``fields`` (first message per field); anything else under ``FORM``.
    Nested locations (``tags.3``) belong to their top-level field."""
    out: dict[str, str] = {}
    if isinstance(exc, ProblemError):
        name = (exc.field or "").split(".")[0]
        out[name if name in fields else FORM] = exc.message
        return out
    for err in exc.errors():
        name = (field_of(err) or "").split(".")[0]
        out.setdefault(name if name in fields else FORM, pydantic_message(err))
    return out
