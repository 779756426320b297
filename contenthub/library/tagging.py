"""Tag suggestions for scenes, channels and content types — and how they learn from editors.

Three signals per label, combined with weights fitted on validation data (see
``contenthub.library.suggester`` for one module per step):

(a) similarity of the asset to the label's description in the taxonomy — works on day one;
(c) editable keyword cues (直播/开播 → 直播预告) — an editor's rules of thumb, editable any time;
(b) a classifier trained on the library's confirmed tags — learns *this* brand's wording, and is
    retrained in the background as editors accept, edit and reject suggestions.

Each suggestion carries a calibrated confidence (about 8 in 10 suggestions shown at 0.8 are
confirmed, on data like the library's) and a short reason. The public functions keep the shapes the
asset service calls: ``suggest``, ``accepted_patch`` and ``record_feedback``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.library.models import Asset, AssetUpdate, SuggestedLabel, Suggestions
from contenthub.library.suggester import cues as cue_data
from contenthub.library.suggester import feedback, model, scoring
from contenthub.library.suggester.cues import CuesIn, CuesOut
from contenthub.library.suggester.feedback import AccuracyReport
from contenthub.library.suggester.training import (
    FACETS,
    FEEDBACK,
    TrainReport,
    maybe_retrain,
    signal_sources,
    train_if_due,
    train_suggester,
    wait_for_training,
)
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

__all__ = [
    "FEEDBACK",
    "AccuracyReport",
    "CuesIn",
    "CuesOut",
    "RejectIn",
    "RejectOut",
    "ReviewItem",
    "TrainReport",
    "accepted_patch",
    "accuracy",
    "get_cues",
    "put_cues",
    "record_feedback",
    "reject_suggestions",
    "review_queue",
    "suggest",
    "suggest_batch",
    "suggest_missing",
    "train_if_due",
    "train_suggester",
    "untagged_ids",
    "wait_for_training",
]

SUGGESTED_FACETS = FACETS
SHOW = {"scenes": 3, "channels": 4, "content_types": 3}  # always shown; more only when confident
SHOW_ALSO_ABOVE = 0.5
RETRAIN_CHECK_SECONDS = 30.0


def _maybe_retrain_throttled(hub: Hub) -> None:
    """Suggestions happen on every create/update/import: look at the retrain clock at most every 30 s."""
    now = time.monotonic()
    if now - hub.cache.get("tagging.last_retrain_check", -1e9) < RETRAIN_CHECK_SECONDS:
        return
    hub.cache["tagging.last_retrain_check"] = now
    maybe_retrain(hub)


def suggest_batch(hub: Hub, vectors: np.ndarray, texts: list[str], *, use_classifier: bool = True) -> list[Suggestions]:
    """Suggestions for many assets at once (their passage vectors and ``asset_text``)."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    descs, matchers = signal_sources(hub)
    current = model.current(hub)
    x_ngram = current.vocab.transform(texts) if current is not None and use_classifier else None
    made_at = utcnow()
    out = [Suggestions(model_id=hub.embedder.model_id, made_at=made_at) for _ignored in texts]
    for facet, _ignored in FACETS:
        fs = scoring.score_facet(
            facet,
            texts,
            vectors,
            descs[facet],
            matchers[facet],
            current,
            hub.embedder.model_id,
            use_classifier=use_classifier,
            x_ngram=x_ngram,
        )
        for i in range(len(texts)):
            ranked = fs.ranked(i)
            labels = [
                SuggestedLabel(id=fs.ids[j], confidence=round(float(fs.proba[i, j]), 4), why=fs.why(i, j))
                for rank, j in enumerate(ranked)
                if rank < SHOW[facet] or fs.proba[i, j] >= SHOW_ALSO_ABOVE
            ]
            setattr(out[i], facet, labels)
    return out


def suggest(hub: Hub, vector: np.ndarray, *, text: str = "", exclude_id: str | None = None) -> Suggestions:
    """Ranked scenes, channels and content types for one asset, each with a calibrated confidence.

    ``exclude_id`` is accepted for compatibility: the classifier does not look up neighbours, and an
    asset's own confirmed tags may rightly inform its suggestions after an edit.
    """
    result = suggest_batch(hub, np.asarray(vector)[None, :], [text])[0]
    _maybe_retrain_throttled(hub)
    return result


def accepted_patch(asset: Asset, *, second_label_min: float = 0.35) -> AssetUpdate:
    """What 'accept suggestions' sets: the top scene plus any other confident one, the channels above
    the bar, and the top content type — never removing what the editor already confirmed."""
    s = asset.suggestions or Suggestions()
    scenes = [x.id for i, x in enumerate(s.scenes) if i == 0 or x.confidence >= second_label_min]
    channels = [x.id for i, x in enumerate(s.channels) if i == 0 or x.confidence >= second_label_min / 2]
    return AssetUpdate(
        scenes=list(dict.fromkeys([*asset.scenes, *scenes])),
        channels=list(dict.fromkeys([*asset.channels, *channels])),
        content_type=asset.content_type or (s.content_types[0].id if s.content_types else None),
    )


ACCEPT_ALL_MIN = 0.5
"""'Accept all' in the console takes only suggestions at or above this confidence (the page shows it): a
channel at 15% is a guess the editor must pick on its own, never something one click confirms."""


def patch_above(asset: Asset, threshold: float = ACCEPT_ALL_MIN) -> AssetUpdate:
    """Every suggestion at or above ``threshold`` added to the confirmed tags (the top content type, if it
    clears the bar and none is confirmed yet); nothing the editor confirmed is removed."""
    s = asset.suggestions or Suggestions()
    above = {f: [x.id for x in getattr(s, f) if x.confidence >= threshold] for f, _ignored in FACETS}
    return AssetUpdate(
        scenes=list(dict.fromkeys([*asset.scenes, *above["scenes"]])),
        channels=list(dict.fromkeys([*asset.channels, *above["channels"]])),
        content_type=asset.content_type or (above["content_types"][0] if above["content_types"] else None),
    )


def patch_one(asset: Asset, facet: str, label_id: str) -> AssetUpdate:
    """One suggested label confirmed on its own (a content type replaces the current one: an asset has one)."""
    s = asset.suggestions or Suggestions()
    if facet not in {f for f, _ignored in FACETS}:
        raise InvalidError(
            _("Unknown facet '{facet}'.").format(facet=facet),
            field="facet",
            value=facet,
            allowed=[f for f, _ignored in FACETS],
        )
    if label_id not in {x.id for x in getattr(s, facet)}:
        raise InvalidError(
            _("'{label}' is not among this asset's suggestions.").format(label=label_id), field="label", value=label_id
        )
    if facet == "content_types":
        return AssetUpdate(content_type=label_id)
    current = asset.scenes if facet == "scenes" else asset.channels
    return AssetUpdate(**{facet: list(dict.fromkeys([*current, label_id]))})


def without_labels(asset: Asset, rejected: dict[str, list[str]]) -> Suggestions:
    """The asset's suggestions less the labels an editor rejected (they stop being offered)."""
    s = asset.suggestions or Suggestions()
    return s.model_copy(
        update={f: [x for x in getattr(s, f) if x.id not in set(rejected.get(f, ()))] for f, _ignored in FACETS}
    )


def record_feedback(hub: Hub, asset: Asset, final: AssetUpdate, actor: str, *, action: str) -> None:
    """Every accept/edit of suggestions is kept: it is the training signal for better suggestions,
    and enough new ones retrain the suggester in the background."""
    if feedback.record_feedback(hub, asset, final, actor, action=action) is not None:
        maybe_retrain(hub)


class RejectIn(BaseModel):
    """Labels the editor says are wrong; send none to reject every current suggestion of the asset."""

    scenes: list[str] | None = None
    channels: list[str] | None = None
    content_types: list[str] | None = None


class RejectOut(BaseModel):
    asset_id: str
    rejected: dict[str, list[str]]
    at: str


def reject_suggestions(hub: Hub, asset: Asset, actor: str, body: RejectIn | None = None) -> RejectOut:
    s = asset.suggestions
    if s is None:
        raise InvalidError(_("This asset has no suggestions to reject."), field="suggestions")
    body = body or RejectIn()
    chosen = {f: getattr(body, f) for f, _ignored in FACETS if getattr(body, f) is not None}
    if not chosen:
        chosen = {f: [x.id for x in getattr(s, f)] for f, _ignored in FACETS}
    for facet, labels in chosen.items():
        taxonomy.validate_values(hub.store, facet, facet, labels)
    rec = feedback.record_reject(hub, asset, actor, {f: list(v) for f, v in chosen.items() if v})
    maybe_retrain(hub)
    return RejectOut(asset_id=asset.id, rejected=rec["rejected"], at=rec["at"])


def accuracy(hub: Hub, recent: int = feedback.RECENT) -> AccuracyReport:
    return feedback.accuracy(hub, recent)


def get_cues(hub: Hub) -> CuesOut:
    return cue_data.get_cues(hub.store)


def put_cues(hub: Hub, data: CuesIn) -> CuesOut:
    """Cues take effect on the next suggestion; the stored model keeps its fitted weights until the
    next training (which refits how much a cue hit counts)."""
    return cue_data.put_cues(hub.store, data)


# --- bulk work over the library -------------------------------------------------------------


def _iter_assets(hub: Hub, statuses: tuple[str, ...], batch: int = 500) -> Any:
    offset = 0
    while True:
        page = hub.store.filter_assets(AssetFilter(statuses=statuses), sort="created_desc", limit=batch, offset=offset)
        if not page.hits:
            return
        docs = hub.store.get_assets([h.id for h in page.hits])
        for h in page.hits:
            if h.id in docs:
                yield docs[h.id]
        offset += len(page.hits)
        if len(page.hits) < batch:
            return


def untagged_ids(hub: Hub) -> list[str]:
    """Draft and approved assets with no confirmed scene: the ones suggestions are for."""
    return [d["id"] for d in _iter_assets(hub, ("draft", "approved")) if not d.get("scenes")]


def suggest_missing(
    hub: Hub, *, batch_size: int = 64, progress: Callable[[int], Any] | None = None, ids: list[str] | None = None
) -> int:
    """Recompute suggestions of untagged assets with the current suggester; returns how many.

    Uses the stored vectors (no re-embedding). Only the machine-owned ``suggestions`` field is
    written, on a fresh read of each asset just before the write, so an editor's concurrent tag edit
    is not undone.
    """
    from contenthub.library.service import asset_text  # late: service imports this module

    todo = untagged_ids(hub) if ids is None else ids
    done = 0
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        have, vecs = hub.store.get_vectors(chunk)
        docs = hub.store.get_assets(have)
        rows = [i for i, a in enumerate(have) if a in docs and vecs.shape[1] == hub.embedder.dim]
        if rows:
            ids_rows = [have[i] for i in rows]
            results = suggest_batch(hub, vecs[rows], [asset_text(docs[a]) for a in ids_rows])
            fresh = hub.store.get_assets(ids_rows)
            updated = []
            for aid, sug in zip(ids_rows, results, strict=True):
                if aid in fresh:
                    fresh[aid]["suggestions"] = sug.model_dump(mode="json")
                    updated.append(fresh[aid])
            hub.store.put_assets(updated)
            done += len(updated)
        if progress is not None:
            progress(len(chunk))
    return done


class ReviewItem(BaseModel):
    asset: Asset
    top_confidence: float = Field(description="Confidence of the top suggested scene (lowest first).")


def review_queue(hub: Hub, *, limit: int = 50, offset: int = 0) -> tuple[list[ReviewItem], int]:
    """Untagged assets whose top scene suggestion is least certain, first — where an editor's minute
    helps most. Assets whose suggestions an editor rejected wait for fresh suggestions."""
    rejected_at: dict[str, str] = {}
    for d in hub.store.list_docs(FEEDBACK, where={"action": "reject"}, limit=100000):
        rejected_at[d["asset_id"]] = max(d.get("at", ""), rejected_at.get(d["asset_id"], ""))
    items: list[ReviewItem] = []
    for d in _iter_assets(hub, ("draft", "approved")):
        if d.get("scenes") or not d.get("suggestions"):
            continue
        asset = Asset.model_validate(d)
        s = asset.suggestions
        assert s is not None
        if asset.id in rejected_at and rejected_at[asset.id] >= (to_iso(s.made_at) if s.made_at else ""):
            continue
        items.append(ReviewItem(asset=asset, top_confidence=s.scenes[0].confidence if s.scenes else 0.0))
    items.sort(key=lambda it: (it.top_confidence, it.asset.id))
    return items[offset : offset + limit], len(items)
