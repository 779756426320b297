"""Optimistic versions of stored documents: the conflict both stores raise when a write names a stale version.

One home for it, so the message an editor reads (and its catalog entry) is the same on SQLite and Elasticsearch.
"""

from __future__ import annotations

from contenthub.errors import ConflictError
from contenthub.i18n import _


def version_conflict(collection: str, doc_id: str, current: int, expected: int) -> ConflictError:
    """The error for a write that expected version ``expected`` of a document now at ``current``."""
    return ConflictError(
        _(
            "{collection} '{doc_id}' was changed by someone else (version {current}, you had {expected}). Reload and apply your change again."
        ).format(collection=collection, doc_id=doc_id, current=current, expected=expected),
        field="version",
        value=expected,
        extra={"current_version": current},
    )
