"""Scoring: assets in, ranked labels with calibrated confidence and a one-line reason out.

Works for one asset (on every create/update) and for a batch (bulk ``suggest --missing``, the
benchmark), with whatever is available: the trained model's full stacker when its classifier was
trained on vectors of the current embedding model, its descriptions+cues stacker otherwise, and the
shipped cold-start weights before the first training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contenthub.library.suggester import calibration
from contenthub.library.suggester.calibration import DEFAULT_COLD_START, Stacker
from contenthub.library.suggester.cues import CueMatcher
from contenthub.library.suggester.descriptions import LabelDescriptions
from contenthub.library.suggester.model import SuggesterModel

WHY_MIN_LIFT = 0.5  # logit units: below this a signal hardly moved the label
_SIGNAL_NAMES = {"desc": "description", "cues": "cues", "clf": "confirmed tags", "prior": "label frequency"}


@dataclass
class FacetScores:
    ids: list[str]
    proba: np.ndarray  # (n × labels) calibrated P(label applies)
    contributions: dict[str, np.ndarray]  # signal → (n × labels) logit contribution
    cue_hits: list[list[list[str]]]  # per asset, per label: cue words found
    mode: str  # "full", "descriptions+cues" or "cold start"

    def ranked(self, i: int) -> list[int]:
        return list(np.argsort(-self.proba[i], kind="stable"))

    def why(self, i: int, j: int) -> str:
        """The signals that favour this label over the asset's other labels, strongest first."""
        parts = []
        lift = {name: float(c[i, j] - c[i].mean()) for name, c in self.contributions.items() if name != "prior"}
        for name, value in sorted(lift.items(), key=lambda kv: -kv[1]):
            if value < WHY_MIN_LIFT:
                continue
            if name == "cues" and self.cue_hits[i][j]:
                parts.append("cues: " + "/".join(self.cue_hits[i][j][:4]))
            elif name != "cues":
                parts.append(_SIGNAL_NAMES[name])
        return " + ".join(parts) if parts else "weak evidence"


def cold_start_stacker(facet: str) -> Stacker:
    return Stacker.from_doc(DEFAULT_COLD_START[facet])


def _remap(values: np.ndarray, model_ids: list[str], ids: list[str], fill: float) -> np.ndarray:
    """Columns of the model's labels → columns of the current taxonomy (labels added since: ``fill``)."""
    index = {x: j for j, x in enumerate(model_ids)}
    out = np.full((values.shape[0], len(ids)), fill, dtype=np.float64)
    for j, x in enumerate(ids):
        if x in index:
            out[:, j] = values[:, index[x]]
    return out


def score_facet(
    facet: str,
    texts: list[str],
    vectors: np.ndarray,
    descs: LabelDescriptions,
    matcher: CueMatcher,
    model: SuggesterModel | None,
    embedding_model_id: str,
    *,
    use_classifier: bool = True,
    x_ngram: object | None = None,
) -> FacetScores:
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    ids = descs.ids
    desc = descs.similarity(vectors)
    cue_hits = [matcher.matches(t) for t in texts]
    cue = np.array([[np.log1p(len(h)) for h in row] for row in cue_hits], dtype=np.float64)
    cue = cue.reshape(len(texts), len(ids))
    fm = model.facets.get(facet) if model is not None else None
    classifier_fits = (
        model is not None
        and fm is not None
        and model.model_id == embedding_model_id
        and fm.ridge.w_embedding.shape[0] == vectors.shape[1]
    )
    if fm is not None and model is not None and use_classifier and classifier_fits:
        x = x_ngram if x_ngram is not None else model.vocab.transform(texts)
        clf = _remap(fm.ridge.scores(x, vectors), fm.ids, ids, fill=0.0)
        prior = _remap(fm.prior[None, :], fm.ids, ids, fill=float(fm.prior.min()))[0]
        feats = calibration.features(desc=desc, cues=cue, clf=clf, prior=prior)
        stacker, mode = fm.full, "full"
    elif fm is not None:
        feats = calibration.features(desc=desc, cues=cue)
        stacker, mode = fm.basic, "descriptions+cues"
    else:
        feats = calibration.features(desc=desc, cues=cue)
        stacker, mode = cold_start_stacker(facet), "cold start"
    contributions = {
        name: c / stacker.scale.get(name, 1.0) * feats[name]
        for name, c in zip(stacker.names, stacker.coef, strict=True)
    }
    return FacetScores(
        ids=list(ids), proba=stacker.proba(feats), contributions=contributions, cue_hits=cue_hits, mode=mode
    )
