"""One time format for storage: UTC, microseconds, 'Z' — so strings sort as times do in every backend."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC: bots send both, and guessing a local zone would shift them."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_iso(dt: datetime) -> str:
    """The stored stamp: ``%Y-%m-%dT%H:%M:%S.%fZ`` in UTC. Written by ``isoformat`` (strftime costs ~10 µs,
    and cut-offs are made on every next-content request), which gives the same text from year 1000 on;
    strftime keeps writing the earlier years as it always did."""
    if dt.tzinfo is not UTC:
        dt = to_utc(dt)
    if dt.year >= 1000:
        return dt.isoformat(timespec="microseconds")[:-6] + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    """Python ≥ 3.11 reads 'Z' itself; a stamp already in UTC (every stored one) is returned as parsed,
    without the conversion — this runs per event on ingestion and per history event on a request."""
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is UTC else to_utc(dt)
