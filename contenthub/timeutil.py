"""The project's one time parser and formatter.

Stored stamps: UTC, microseconds, 'Z', always a 4-digit year (``2026-03-01T08:00:00.000000Z``), so strings
sort as the times they name in every backend.

Times that come in (API bodies, query strings, forms, the CLI) are parsed by pydantic and checked by
``Instant``: only years ``MIN_YEAR``–``MAX_YEAR`` (UTC) are accepted. Why a range: a date near year 1 or
9999 overflows as soon as it is shifted by a time zone or a planning horizon, and nothing this product
schedules lies outside it; ``0001-01-01`` (Go's zero time) is a bot's "unset", not a date. The upper bound
leaves a year of headroom under Python's ``datetime.max`` so every shift the product makes stays a date.

Stored stamps are read with ``from_iso``, which refuses anything not in the stored form's year range with a
``BadStamp`` (a ``ValueError``), so a record written by an older version can be isolated by its reader
(see ``contenthub.bad_records``) instead of failing a request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator

from contenthub.i18n import _

MIN_YEAR = 1900
MAX_YEAR = 9998
RANGE_TEXT = f"years {MIN_YEAR}–{MAX_YEAR} (UTC)"
EARLIEST = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class BadStamp(ValueError):
    """A time that is not a well-formed ISO 8601 stamp within the supported range."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC: bots send both, and guessing a local zone would shift them."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def in_range(dt: datetime) -> datetime:
    """``dt`` in UTC when it lies within the supported years, else ``BadStamp`` saying what is allowed."""
    try:
        utc = to_utc(dt)
    except OverflowError:  # e.g. 0001-01-01T00:00+08:00 has no UTC time
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise BadStamp(
            _("{isoformat} is out of range: times must lie within {RANGE_TEXT}").format(
                isoformat=dt.isoformat(), RANGE_TEXT=RANGE_TEXT
            )
        )
    return utc


def _checked_input(dt: datetime) -> datetime:
    in_range(dt)
    return dt  # kept as sent (its zone too): callers convert with to_utc / to_iso


Instant = Annotated[datetime, AfterValidator(_checked_input)]
"""A datetime at the API's edge: ISO 8601 (pydantic's parser), within ``MIN_YEAR``–``MAX_YEAR``."""


def to_iso(dt: datetime) -> str:
    """The stored stamp: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, the year always 4 digits.

    Written by ``isoformat`` (cheaper than strftime, and cut-offs are made on every next-content request);
    ``isoformat`` zero-pads every year, where glibc's ``%Y`` writes year 1 as ``1``."""
    if dt.tzinfo is not UTC:
        dt = to_utc(dt)
    return dt.isoformat(timespec="microseconds")[:-6] + "Z"


def from_iso(text: str) -> datetime:
    """A stored stamp (or any ISO 8601 text with a 4-digit year) as an aware UTC datetime.

    Python ≥ 3.11 reads 'Z' itself; a stamp already in UTC (every stored one) is returned as parsed,
    without the conversion — this runs per event on ingestion and per history event on a request.
    Raises ``BadStamp`` for text that is not such a stamp (e.g. ``1-01-01T00:00:00.000000Z``, which an
    older version wrote for year 1)."""
    try:
        dt = datetime.fromisoformat(text)
        return dt if dt.tzinfo is UTC else to_utc(dt)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadStamp(_("{text!r} is not an ISO 8601 time ({exc})").format(text=text, exc=exc)) from None


def parse_instant(value: Any) -> datetime:
    """Text from a form or the command line as an aware UTC datetime within the supported range."""
    if isinstance(value, datetime):
        return in_range(value)
    return in_range(from_iso(str(value).strip()))


def epochs(stamps: list[str]) -> np.ndarray:
    """Stored stamps → epoch seconds (NaN for ''), for readers that vectorise over millions of them:
    one numpy conversion when all are the stored form's 27 characters (or ''), else ``from_iso`` each."""
    lens = np.fromiter(map(len, stamps), dtype=np.int64, count=len(stamps))
    full = lens == 27
    if full.any() and (full | (lens == 0)).all():
        try:
            raw = np.frombuffer("".join(stamps).encode("ascii"), dtype="S27").astype("S26")
            out = np.full(len(stamps), np.nan)
            out[full] = raw.astype("datetime64[us]").astype(np.int64) / 1e6
            return out
        except (UnicodeEncodeError, ValueError):
            pass
    return np.array([from_iso(t).timestamp() if t else np.nan for t in stamps], dtype=np.float64)
