"""Per-process memo of rarely-changing configuration read on every next-content request: ranking
strategies, channel cap rules, lifecycle rules, the taxonomy's channel/scene ids and label names.

Reading them from the store costs a query (an HTTP round trip on Elasticsearch), a JSON decode and a
pydantic validation each — together most of a millisecond per request for values that change a few
times a year. A memoised value is read again when

- it changed: the writer calls ``hub.touch(name)`` *after* its store write (the ``put_*``/``delete_*``
  functions of strategies, caps and lifecycle do). The mark lives in the store, so the next read in
  this process sees it at once and every other process (another API worker on the same SQLite file
  or Elasticsearch cluster, the CLI) within ``hub.CHANGES_POLL_S`` (0.5) seconds; or
- it is older than :data:`TTL` seconds: a safety net for a write that did not touch (a document
  edited with ``contenthub store`` tools, say).

The version is read before the loader runs, so a write that lands during a load is never hidden
behind it: the memo is tagged with the older version and the next call reloads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from contenthub.hub import Hub

TTL = 5.0
"""Seconds a memoised value is trusted without a write seen in this process (cross-process staleness)."""

MAX_ENTRIES = 10_000
"""Bound on memoised values per process (keys come from validated ids, so it is never reached in practice)."""

_SLOT = "recommend.doccache"
T = TypeVar("T")


def cached(hub: Hub, name: str, key: Hashable, load: Callable[[], T], *, ttl: float = TTL) -> T:
    """``load()``, memoised per process under (name, key) until ``hub.touch(name)`` or ``ttl`` seconds."""
    memo: dict[tuple[str, Hashable], tuple[int, float, Any]] | None = hub.cache.get(_SLOT)
    if memo is None:
        memo = hub.cache.setdefault(_SLOT, {})
    version = hub.version(name)
    now = time.monotonic()
    hit = memo.get((name, key))
    if hit is not None and hit[0] == version and 0.0 <= now - hit[1] < ttl:
        return hit[2]  # type: ignore[no-any-return]
    value = load()
    if len(memo) >= MAX_ENTRIES:
        memo.clear()
    memo[(name, key)] = (version, now, value)
    return value


def forget(hub: Hub, name: str) -> None:
    """Drop every memoised value of ``name`` in this process (the same as ``hub.touch(name)`` for readers)."""
    hub.touch(name)
