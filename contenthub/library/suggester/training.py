"""Training: confirmed tags and editor feedback in, a validated suggester model out.

What counts as a confirmed label: the tags of every *approved* asset, and of any asset an editor
accepted or edited suggestions for. Editor corrections (an edit that changed the suggested top
label, or a reject) weigh ``CORRECTION_WEIGHT`` times as much as an ordinary confirmed asset: they
mark exactly where the suggester was wrong. A reject only says which labels are wrong, so only those
(asset, label) pairs are known.

The weights that combine the signals come from out-of-fold validation: the classifier is refit k
times without one fold and scores it, and the stacker learns from those scores. The same
out-of-fold scores give the accuracy in the report.

Retraining runs in a background thread once ``retrain_after`` new confirmations (approved assets plus
feedback records) have arrived since the last model; ``contenthub tag train`` and
``POST /v1/tagging/train`` run it on demand.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from contenthub.hub import Hub
from contenthub.library.suggester import calibration, classifier, cues, descriptions
from contenthub.library.suggester.calibration import expected_calibration_error, topk_accuracy
from contenthub.library.suggester.features import NgramVocab
from contenthub.library.suggester.model import FacetModel, SuggesterModel, pointer, save
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)

FACETS: tuple[tuple[str, str], ...] = (
    ("scenes", "scenes"),
    ("channels", "channels"),
    ("content_types", "content_type"),
)
FEEDBACK = "tag_feedback"
CORRECTION_WEIGHT = 3.0
MIN_EXAMPLES = 30  # fewer confirmed assets than this: descriptions and cues only
MAX_EXAMPLES = 3000  # the most recent confirmations; keeps the n×n solve to seconds
RETRAIN_AFTER = 20
PRIOR_SMOOTHING = 1.0


class FacetReport(BaseModel):
    examples: int
    top1: float = Field(description="Out-of-fold top-1 accuracy of the full suggester.")
    top3: float
    top1_descriptions_cues: float = Field(description="Descriptions + cues only (what a new library gets).")
    top3_descriptions_cues: float
    top1_descriptions: float
    top3_descriptions: float
    calibration_error: float = Field(description="Expected calibration error of the top suggestion.")
    weights: dict[str, float] = Field(description="Fitted weight per signal (desc, cues, clf, prior).")


class TrainReport(BaseModel):
    trained: bool
    reason: str = ""
    version: int | None = None
    examples: int = 0
    corrections: int = 0
    seconds: float = 0.0
    model_id: str = ""
    facets: dict[str, FacetReport] = Field(default_factory=dict)


@dataclass
class Examples:
    """Training rows: one per confirmed asset (or rejected suggestion)."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    weights: np.ndarray
    labels: dict[str, tuple[list[str], np.ndarray, np.ndarray]]  # facet → (label ids, targets, known)
    sources: np.ndarray  # 0 = confirmed asset, 1 = asset with editor feedback (see classifier.kernel)
    corrections: int = 0


def _labels_of(doc: dict[str, Any], field: str) -> list[str]:
    v = doc.get(field)
    return [v] if isinstance(v, str) else list(v or [])


def build_examples(
    docs: list[dict[str, Any]],
    vectors: np.ndarray,
    facet_ids: dict[str, list[str]],
    *,
    weights: np.ndarray | None = None,
    rejected: list[dict[str, list[str]]] | None = None,
    sources: np.ndarray | None = None,
) -> Examples:
    """Rows from asset dicts (title, body, tags, scenes, channels, content_type) and their vectors.

    ``rejected`` (per row, facet → label ids) marks labels an editor rejected: known negatives.
    """
    from contenthub.library.service import asset_text  # late: service imports tagging

    n = len(docs)
    labels = {}
    for facet, field in FACETS:
        ids = facet_ids[facet]
        index = {x: j for j, x in enumerate(ids)}
        y = np.zeros((n, len(ids)))
        known = np.zeros((n, len(ids)), dtype=bool)
        for i, d in enumerate(docs):
            pos = [index[x] for x in _labels_of(d, field) if x in index]
            if pos:
                y[i, pos] = 1.0
                known[i, :] = True
            for x in rejected[i].get(facet, []) if rejected else []:
                if x in index and y[i, index[x]] == 0:
                    known[i, index[x]] = True
        labels[facet] = (ids, y, known)
    return Examples(
        ids=[str(d.get("id", i)) for i, d in enumerate(docs)],
        texts=[asset_text(d) for d in docs],
        vectors=np.asarray(vectors, dtype=np.float32),
        weights=np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64),
        labels=labels,
        sources=np.zeros(n, dtype=np.int64) if sources is None else np.asarray(sources, dtype=np.int64),
    )


def _prior(y: np.ndarray, known: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = known.any(axis=1)
    counts = (y[rows] * w[rows, None]).sum(axis=0)
    return np.log((counts + PRIOR_SMOOTHING) / (counts.sum() + PRIOR_SMOOTHING * y.shape[1]))


def fit_model(
    ex: Examples,
    descs: dict[str, descriptions.LabelDescriptions],
    matchers: dict[str, cues.CueMatcher],
    model_id: str,
) -> tuple[SuggesterModel, dict[str, FacetReport]]:
    """Fit the classifier and both stackers per facet; report out-of-fold validation accuracy."""
    with threadpool_limits(1):  # small matrices: one BLAS thread is fastest on a shared CPU
        return _fit_model(ex, descs, matchers, model_id)


def _fit_model(
    ex: Examples,
    descs: dict[str, descriptions.LabelDescriptions],
    matchers: dict[str, cues.CueMatcher],
    model_id: str,
) -> tuple[SuggesterModel, dict[str, FacetReport]]:
    vocab, x = NgramVocab.fit_transform(ex.texts)
    emb_mean = ex.vectors.mean(axis=0)
    centred = classifier.centre_embeddings(ex.vectors, emb_mean)
    k = classifier.kernel(x, centred, sources=ex.sources)
    folds = classifier.folds_for(len(ex.texts))
    facets: dict[str, FacetModel] = {}
    reports: dict[str, FacetReport] = {}
    for facet, _ in FACETS:
        ids, y, known = ex.labels[facet]
        rows = known.any(axis=1)
        desc = descs[facet].similarity(ex.vectors)
        cue = matchers[facet].scores(ex.texts)
        prior = _prior(y, known, ex.weights)
        oof = classifier.out_of_fold(k, y, ex.weights, known, folds)
        full_feats = calibration.features(desc=desc, cues=cue, clf=oof, prior=prior)
        basic_feats = calibration.features(desc=desc, cues=cue)
        full = calibration.fit_stacker(full_feats, y, ex.weights, known)
        basic = calibration.fit_stacker(basic_feats, y, ex.weights, known)
        ridge = classifier.fit(x, centred, y, ex.weights, known, emb_mean=emb_mean, k=k)
        facets[facet] = FacetModel(ids=list(ids), ridge=ridge, prior=prior, full=full, basic=basic)
        p_full = full.proba(full_feats)[rows]
        p_basic = basic.proba(basic_feats)[rows]
        yr = y[rows]
        reports[facet] = FacetReport(
            examples=int(rows.sum()),
            top1=round(topk_accuracy(p_full, yr, 1), 4),
            top3=round(topk_accuracy(p_full, yr, 3), 4),
            top1_descriptions_cues=round(topk_accuracy(p_basic, yr, 1), 4),
            top3_descriptions_cues=round(topk_accuracy(p_basic, yr, 3), 4),
            top1_descriptions=round(topk_accuracy(desc[rows], yr, 1), 4),
            top3_descriptions=round(topk_accuracy(desc[rows], yr, 3), 4),
            calibration_error=round(expected_calibration_error(p_full, yr), 4),
            weights=full.weights(),
        )
    model = SuggesterModel(vocab=vocab, facets=facets, model_id=model_id, trained_at=to_iso(utcnow()))
    return model, reports


# --- reading the store ----------------------------------------------------------------------


def confirmation_count(hub: Hub) -> int:
    """Approved assets plus feedback records: the clock that triggers retraining."""
    return hub.store.count_assets(AssetFilter(statuses=("approved",))) + hub.store.count_docs(FEEDBACK)


def _latest_feedback(hub: Hub) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = hub.store.list_docs(FEEDBACK, limit=1000, offset=offset)
        for d in page:
            aid = d.get("asset_id")
            if aid and (aid not in latest or d.get("at", "") >= latest[aid].get("at", "")):
                latest[aid] = d
        if len(page) < 1000:
            return latest
        offset += 1000


def is_correction(fb: dict[str, Any]) -> bool:
    """A reject, or an edit whose final labels left out the suggested top label of some facet."""
    if fb.get("action") == "reject":
        return True
    if fb.get("action") != "edit":
        return False
    for facet, _ in FACETS:
        suggested = fb.get("suggested", {}).get(facet) or []
        final = [x for x in fb.get("final", {}).get(facet) or [] if x]
        if suggested and final and suggested[0] not in final:
            return True
    return False


def gather(hub: Hub, facet_ids: dict[str, list[str]], *, limit: int = MAX_EXAMPLES) -> Examples:
    """Confirmed assets (most recently updated first, up to ``limit``) plus every asset with feedback."""
    store = hub.store
    feedback = _latest_feedback(hub)
    ids: list[str] = []
    offset = 0
    while len(ids) < limit:
        page = store.filter_assets(
            AssetFilter(statuses=("approved",)), sort="updated_desc", limit=min(1000, limit - len(ids)), offset=offset
        )
        ids.extend(h.id for h in page.hits)
        if len(page.hits) < 1000:
            break
        offset += len(page.hits)
    seen = set(ids)
    ids.extend(a for a in feedback if a not in seen)
    model_id = hub.embedder.model_id
    if len(store.vector_model_ids()) > 1:  # mid re-embedding: skip vectors of the old model
        stale = set(store.assets_missing_vectors(model_id, limit=10**9))
        ids = [a for a in ids if a not in stale]
    docs_by_id = store.get_assets(ids)
    # Sorted by id: the same library gives the same folds and the same model, whatever the read order.
    have, vecs = store.get_vectors(sorted(a for a in ids if a in docs_by_id))
    docs, weights, rejected, sources = [], [], [], []
    corrections = 0
    for aid in have:
        d = docs_by_id[aid]
        fb = feedback.get(aid)
        if d.get("status") == "archived" and fb is None:
            continue
        rej: dict[str, list[str]] = {}
        if fb is not None and fb.get("action") == "reject":
            rej = {f: list(v) for f, v in (fb.get("rejected") or {}).items()}
        corrected = fb is not None and is_correction(fb)
        corrections += corrected
        docs.append(d)
        weights.append(CORRECTION_WEIGHT if corrected else 1.0)
        rejected.append(rej)
        sources.append(0 if fb is None else 1)
    row_of = {a: i for i, a in enumerate(have)}
    keep = [row_of[str(d["id"])] for d in docs]
    ex = build_examples(
        docs,
        vecs[keep] if len(keep) else np.zeros((0, hub.embedder.dim)),
        facet_ids,
        weights=np.asarray(weights),
        rejected=rejected,
        sources=np.asarray(sources),
    )
    ex.corrections = corrections
    return ex


def signal_sources(hub: Hub) -> tuple[dict[str, descriptions.LabelDescriptions], dict[str, cues.CueMatcher]]:
    descs = {f: descriptions.for_facet(hub, f) for f, _ in FACETS}
    matchers = {f: cues.matcher(hub.store, f, descs[f].ids) for f, _ in FACETS}
    return descs, matchers


def _lock(hub: Hub) -> threading.Lock:
    return hub.cache.setdefault("tagging.train_lock", threading.Lock())


def train_suggester(hub: Hub) -> TrainReport:
    """Train on the store's confirmed tags and feedback, store the model, report validation accuracy.

    One training at a time per hub: a second caller waits for the first and then trains again on
    whatever arrived meanwhile.
    """
    with _lock(hub):
        started = time.perf_counter()
        confirmations = confirmation_count(hub)
        if confirmations < MIN_EXAMPLES:  # cheap answer without loading the embedding model
            return TrainReport(
                trained=False,
                examples=confirmations,
                reason=f"Need at least {MIN_EXAMPLES} confirmed assets (have {confirmations}); "
                "suggestions use descriptions and cues until then.",
            )
        descs, matchers = signal_sources(hub)
        ex = gather(hub, {f: d.ids for f, d in descs.items()})
        scene_rows = ex.labels["scenes"][2].any(axis=1)
        n_scenes = int((ex.labels["scenes"][1][scene_rows].sum(axis=0) > 0).sum())
        if scene_rows.sum() < MIN_EXAMPLES or n_scenes < 2:
            return TrainReport(
                trained=False,
                examples=int(scene_rows.sum()),
                model_id=hub.embedder.model_id,
                reason=f"Need at least {MIN_EXAMPLES} confirmed assets over 2 or more scenes "
                f"(have {int(scene_rows.sum())} over {n_scenes}); suggestions use descriptions and cues until then.",
            )
        model, reports = fit_model(ex, descs, matchers, hub.embedder.model_id)
        model.meta = {
            "examples": len(ex.texts),
            "corrections": ex.corrections,
            "confirmations": confirmations,
            "cues_version": cues.get_cues(hub.store).version,
            "validation": {f: r.model_dump() for f, r in reports.items()},
        }
        version = save(hub, model)
        return TrainReport(
            trained=True,
            version=version,
            examples=len(ex.texts),
            corrections=ex.corrections,
            seconds=round(time.perf_counter() - started, 2),
            model_id=model.model_id,
            facets=reports,
        )


# --- background retraining ------------------------------------------------------------------


def retrain_after(hub: Hub) -> int:
    """New confirmations that trigger a background retrain (0 turns it off)."""
    return int(getattr(hub.settings, "tagging_retrain_after", RETRAIN_AFTER))


def needs_training(hub: Hub) -> bool:
    every = retrain_after(hub)
    if every <= 0:
        return False
    ptr = pointer(hub)
    count = confirmation_count(hub)
    if ptr is None:
        return count >= MIN_EXAMPLES
    return count - int(ptr.get("meta", {}).get("confirmations", 0)) >= every


def maybe_retrain(hub: Hub) -> bool:
    """Start a background training if enough new confirmations arrived and none is running."""
    running: threading.Thread | None = hub.cache.get("tagging.training")
    if running is not None and running.is_alive():
        return False
    try:
        if not needs_training(hub):
            return False
    except Exception:  # noqa: BLE001 - a closed store at shutdown must not break the caller
        return False

    def run() -> None:
        try:
            report = train_suggester(hub)
            log.info("tag suggester retrained: %s", report.model_dump_json(exclude={"facets"}))
        except Exception:  # noqa: BLE001 - background work: log, never crash the server
            log.exception("tag suggester retraining failed")

    hub.cache["tagging.training"] = hub.start_background(run, "tagging-retrain")
    return True


def train_if_due(hub: Hub) -> TrainReport | None:
    """Let a running background training finish, then train now if confirmations still call for it.

    Why: a freshly loaded library (the demo, a bulk import) must not hand out zero-shot suggestions for
    its first uploads while a background thread may or may not have finished learning from its tags.
    """
    wait_for_training(hub)
    return train_suggester(hub) if needs_training(hub) else None


def wait_for_training(hub: Hub, timeout: float = 120.0) -> None:
    """Block until a background training (if any) has finished — for tests and the CLI."""
    running: threading.Thread | None = hub.cache.get("tagging.training")
    if running is not None:
        running.join(timeout)
