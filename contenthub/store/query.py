"""Backend-neutral query values that domain code hands to the store.

They describe *what* is wanted (filters, paging, sort), never *how*: the SQLite backend turns them
into SQL and the Elasticsearch backend into bool queries, so domain code stays the same on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AssetSort = Literal["updated_desc", "created_desc", "title_asc"]


@dataclass(frozen=True)
class AssetFilter:
    """All given facets must match (AND); within one facet any listed value matches (OR)."""

    scenes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    valid_at: datetime | None = None
    ids: tuple[str, ...] | None = None
    exclude_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self == AssetFilter()


@dataclass(frozen=True)
class Hit:
    id: str
    score: float


@dataclass
class HitPage:
    hits: list[Hit] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class EventQuery:
    user_ids: tuple[str, ...] = ()
    asset_ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000
    newest_first: bool = True


@dataclass(frozen=True)
class SubjectRead:
    """What ``Store.read_subjects`` reads for each subject key (a user id, or a group id) — everything a
    profile is built from — so a request reads it in one round trip and a page of due sends in one for
    all its users, instead of a document read, an event query and a counter read per subject.

    ``docs``: the collection of the subjects' documents ('' reads none: groups). ``follow``: a field of
    those documents naming the document that replaced it (a merged user's ``merged_into``), followed at
    most ``hops`` times; the subject's events and counters are then read under the last id reached.
    ``by``: the event field that holds the key. ``counters``/``counter_prefix``: the counter collection
    and the prefix of the subject's counter key there. ``newest``: how many of the subject's newest
    events (of all time, newest first). ``typed``/``typed_limit``: also the newest ``typed_limit`` events
    of these types (of all time), which may be older than the ``newest`` ones."""

    counters: str
    newest: int
    by: Literal["user_id", "group_id"] = "user_id"
    docs: str = ""
    follow: str = ""
    hops: int = 0
    counter_prefix: str = ""
    typed: tuple[str, ...] = ()
    typed_limit: int = 0


@dataclass
class SubjectData:
    """One subject as ``Store.read_subjects`` found it. ``key``: the id its events and counters were
    read under (the surviving id when its document was followed). ``doc``: that document (None when not
    stored, or when ``docs`` was ''). ``events``: newest first. ``typed``: newest first."""

    key: str
    doc: dict[str, Any] | None
    events: list[dict[str, Any]]
    typed: list[dict[str, Any]]
    counters: dict[str, float]
