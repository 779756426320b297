"""Pydantic's validation errors as sentences a person can act on, in the current language.

Pydantic writes its messages in English ("String should have at most 200 characters"); the API's 422 body
and the console's forms read them from here instead, by the error's stable ``type`` and its context
(limits, allowed values). Messages of our own validators (``ValueError(_("…"))``) are already translated
where they are raised and only lose pydantic's "Value error, " prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contenthub.i18n import N_, gettext

_BY_TYPE: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_type": N_("Enter text here."),
    "int_type": N_("Enter a whole number."),
    "int_parsing": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_type": N_("Enter a number."),
    "float_parsing": N_("Enter a number."),
    "finite_number": N_("Enter a finite number."),
    "bool_type": N_("Choose yes or no."),
    "bool_parsing": N_("Choose yes or no."),
    "date_type": N_("Enter a date (YYYY-MM-DD)."),
    "date_parsing": N_("Enter a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Enter a date (YYYY-MM-DD)."),
    "datetime_type": N_("Enter a date and time (YYYY-MM-DDTHH:MM, with a time zone)."),
    "datetime_parsing": N_("Enter a date and time (YYYY-MM-DDTHH:MM, with a time zone)."),
    "datetime_from_date_parsing": N_("Enter a date and time (YYYY-MM-DDTHH:MM, with a time zone)."),
    "list_type": N_("Give a list here."),
    "dict_type": N_("Give an object (key: value pairs) here."),
    "model_type": N_("Give an object (key: value pairs) here."),
    "model_attributes_type": N_("Give an object (key: value pairs) here."),
    "json_invalid": N_("This is not valid JSON."),
    "json_type": N_("This is not valid JSON."),
    "extra_forbidden": N_("This field is not known here; remove it."),
    "url_parsing": N_("Enter a web address starting with http:// or https://."),
    "url_scheme": N_("Enter a web address starting with http:// or https://."),
    "string_unicode": N_("The text contains characters that are not valid Unicode."),
    "string_pattern_mismatch": N_("This value does not have the expected form."),
}
_WITH_CONTEXT: dict[str, str] = {
    "string_too_short": N_("Enter at least {min_length} characters."),
    "string_too_long": N_("Enter at most {max_length} characters (this one has {length})."),
    "too_short": N_("Give at least {min_length} items."),
    "too_long": N_("Give at most {max_length} items."),
    "greater_than": N_("Enter a number greater than {gt}."),
    "greater_than_equal": N_("Enter a number of at least {ge}."),
    "less_than": N_("Enter a number less than {lt}."),
    "less_than_equal": N_("Enter a number of at most {le}."),
    "literal_error": N_("Choose one of: {expected}."),
    "enum": N_("Choose one of: {expected}."),
}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def pydantic_message(err: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a sentence in the current language."""
    kind = str(err.get("type", ""))
    ctx = dict(err.get("ctx") or {})
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return gettext("This field must not be empty.")
    if kind in _WITH_CONTEXT:
        value = err.get("input")
        ctx.setdefault("length", len(value) if isinstance(value, str | list | tuple | dict) else "?")
        try:
            return gettext(_WITH_CONTEXT[kind]).format(**ctx)
        except (KeyError, IndexError):
            pass
    if kind in _BY_TYPE:
        return gettext(_BY_TYPE[kind])
    msg = str(err.get("msg", ""))
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def field_of(err: Mapping[str, Any]) -> str | None:
    """The field an error is about, dotted (``steps.0.wait``), without pydantic's location kinds."""
    loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form")]
    return ".".join(loc) or None
