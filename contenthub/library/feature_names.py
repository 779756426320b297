"""Display names of feature codes (``s:``, ``c:``, ``k:``, ``ch:``, ``st:``) for reasons and profiles.

Beside ``taxonomy`` rather than in it: the taxonomy works on the store alone, this memo needs the hub.
"""

from __future__ import annotations

from contenthub import doccache
from contenthub.hub import Hub
from contenthub.i18n import current_language
from contenthub.library import taxonomy


def feature_names(hub: Hub) -> dict[str, str]:
    """Display names of scene/content-type/kind features (``s:``, ``c:``, ``k:``), channels (``ch:``) and stages
    (``st:``) in the current language: what reasons and profiles show for a feature code (memoised per
    language; renames show within ``doccache.TTL`` s, at once where the taxonomy routes touch it)."""
    lang = current_language()

    def load() -> dict[str, str]:
        found = {}
        for facet, prefix in (
            ("scenes", "s:"),
            ("content_types", "c:"),
            ("kinds", "k:"),
            ("channels", "ch:"),
            ("stages", "st:"),
        ):
            for e in taxonomy.entries(hub.store, facet):
                found[prefix + e.id] = taxonomy.label(e, lang)
        return found

    return doccache.cached(hub, taxonomy.COLLECTION, f"label_names:{lang}", load)
