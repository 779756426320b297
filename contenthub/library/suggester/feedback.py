"""Editor feedback on suggestions — accept, edit, reject — and the accuracy it reveals.

Every record keeps what was suggested (ranked, with confidences) next to what the editor decided, so
the same records serve as training signal (``training``) and as the live measure of how good the
suggester is on the library's *recent* work, which is the number an editor should trust.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contenthub.hub import Hub
from contenthub.library.models import Asset, AssetUpdate, Suggestions
from contenthub.library.suggester.training import FACETS, FEEDBACK
from contenthub.timeutil import to_iso, utcnow

ACTIONS = ("accept", "edit", "reject")
RECENT = 200


def _suggested(s: Suggestions) -> tuple[dict[str, list[str]], dict[str, list[float]]]:
    return (
        {f: [x.id for x in getattr(s, f)] for f, _ in FACETS},
        {f: [x.confidence for x in getattr(s, f)] for f, _ in FACETS},
    )


def _store(hub: Hub, doc: dict[str, Any]) -> dict[str, Any]:
    hub.store.put_doc(FEEDBACK, f"{doc['asset_id']}:{doc['at']}", doc)
    return doc


def record_feedback(hub: Hub, asset: Asset, final: AssetUpdate, actor: str, *, action: str) -> dict[str, Any] | None:
    """Keep an accept or edit: what was suggested and what the editor's tags became. Fields the
    update leaves unset keep the asset's current tags. Nothing is kept when there was no suggestion
    or the editor's tags are empty (no decision to learn from)."""
    s = asset.suggestions
    if s is None:
        return None
    scenes = final.scenes if final.scenes is not None else asset.scenes
    channels = final.channels if final.channels is not None else asset.channels
    content_type = (
        final.content_type if "content_type" in final.model_fields_set or final.content_type else asset.content_type
    )
    if not scenes and not channels and not content_type:
        return None
    suggested, confidence = _suggested(s)
    return _store(
        hub,
        {
            "asset_id": asset.id,
            "action": action,
            "actor": actor,
            "at": to_iso(utcnow()),
            "suggested": suggested,
            "confidence": confidence,
            "final": {
                "scenes": list(scenes),
                "channels": list(channels),
                "content_types": [content_type] if content_type else [],
            },
        },
    )


def record_reject(hub: Hub, asset: Asset, actor: str, rejected: dict[str, list[str]]) -> dict[str, Any]:
    """Keep a reject: the listed labels are wrong for this asset (which ones are right is not said)."""
    s = asset.suggestions or Suggestions()
    suggested, confidence = _suggested(s)
    return _store(
        hub,
        {
            "asset_id": asset.id,
            "action": "reject",
            "actor": actor,
            "at": to_iso(utcnow()),
            "suggested": suggested,
            "confidence": confidence,
            "rejected": rejected,
        },
    )


class FacetAccuracy(BaseModel):
    decisions: int = Field(description="Recent editor decisions with a suggestion for this facet.")
    top1: float | None = Field(default=None, description="Share where the top suggestion was kept.")
    top3: float | None = Field(default=None, description="Share where one of the top three was kept.")


class AccuracyReport(BaseModel):
    recent: int = Field(description="How many of the latest feedback records were read (one per asset).")
    facets: dict[str, FacetAccuracy]
    model_version: int | None = None
    trained_at: str | None = None
    validation: dict[str, Any] = Field(default_factory=dict, description="Out-of-fold accuracy at training time.")


def score_record(fb: dict[str, Any], facet: str) -> tuple[bool, bool] | None:
    """(top-1 kept, one of top-3 kept) for one record and facet; None when it says nothing.

    A reject of the top suggestion is a miss for both; a reject of lower-ranked labels only is skipped
    (the right label is unknown)."""
    suggested = (fb.get("suggested") or {}).get(facet) or []
    if not suggested:
        return None
    if fb.get("action") == "reject":
        rejected = set((fb.get("rejected") or {}).get(facet) or [])
        return (False, False) if suggested[0] in rejected else None
    final = {x for x in (fb.get("final") or {}).get(facet) or [] if x}
    if not final:
        return None
    return suggested[0] in final, bool(final & set(suggested[:3]))


def accuracy(hub: Hub, recent: int = RECENT) -> AccuracyReport:
    """Accuracy of the suggestions editors acted on most recently (latest decision per asset)."""
    from contenthub.library.suggester.model import pointer

    total = hub.store.count_docs(FEEDBACK)
    records: list[dict[str, Any]] = []
    offset = 0
    while offset < total:  # generic docs come back in id order, so read all and sort by time
        page = hub.store.list_docs(FEEDBACK, limit=1000, offset=offset)
        if not page:
            break
        records.extend(page)
        offset += len(page)
    records.sort(key=lambda d: d.get("at", ""), reverse=True)
    latest: dict[str, dict[str, Any]] = {}
    for d in records:
        if d.get("asset_id") not in latest:
            latest[d["asset_id"]] = d
        if len(latest) >= recent:
            break
    facets: dict[str, FacetAccuracy] = {}
    for facet, _ in FACETS:
        scored = [r for fb in latest.values() if (r := score_record(fb, facet)) is not None]
        facets[facet] = FacetAccuracy(
            decisions=len(scored),
            top1=round(sum(a for a, _ in scored) / len(scored), 4) if scored else None,
            top3=round(sum(b for _, b in scored) / len(scored), 4) if scored else None,
        )
    ptr = pointer(hub)
    return AccuracyReport(
        recent=len(latest),
        facets=facets,
        model_version=int(ptr["version"]) if ptr else None,
        trained_at=ptr.get("trained_at") if ptr else None,
        validation=(ptr.get("meta", {}).get("validation", {}) if ptr else {}),
    )
