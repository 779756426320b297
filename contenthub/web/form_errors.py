"""Errors of a console form, by field, in the reader's language: pages show each beside its field.

Why a mapping of pydantic's error *types* rather than its messages: pydantic writes English sentences
("String should have at most 200 characters"); the type and its context (``max_length``…) are stable, so
each type gets one catalog message and the limits are filled in.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contenthub.errors import ProblemError
from contenthub.i18n import _

GENERAL = "_form"
"""The key of an error that belongs to no single field (shown above the form)."""


def _validation_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return _("Required.")
    if kind == "string_too_long":
        return _("At most %(n)s characters.") % {"n": ctx.get("max_length")}
    if kind == "string_too_short":
        return _("Required.") if ctx.get("min_length") == 1 else _("At least %(n)s characters.") % {
            "n": ctx.get("min_length")}
    if kind in ("greater_than_equal", "greater_than"):
        return _("Must be at least %(n)s.") % {"n": ctx.get("ge", ctx.get("gt"))}
    if kind in ("less_than_equal", "less_than"):
        return _("Must be at most %(n)s.") % {"n": ctx.get("le", ctx.get("lt"))}
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "int_from_float"):
        return _("Enter a number.")
    if kind in ("enum", "literal_error"):
        return _("Choose one of the offered values.")
    if kind == "value_error":
        return str(ctx.get("error") or err.get("msg", ""))
    if kind in ("too_short", "list_type") and err.get("loc"):
        return _("Choose at least one.")
    return _("This value is not valid.")


def field_errors(exc: Exception) -> dict[str, str]:
    """``{field: message}`` for a ProblemError (its ``field``) or a pydantic ValidationError (each error's
    first location part that names a form field); anything else under ``GENERAL``."""
    if isinstance(exc, ProblemError):
        return {exc.field or GENERAL: exc.message}
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if not isinstance(x, int)]
            out.setdefault(loc[0] if loc else GENERAL, _validation_message(dict(err)))
        return out
    return {GENERAL: str(exc)}
