"""Backend-neutral query values that domain code hands to the store.

They describe *what* is wanted (filters, paging, sort), never *how*: the SQLite backend turns them
into SQL and the Elasticsearch backend into bool queries, so domain code stays the same on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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
