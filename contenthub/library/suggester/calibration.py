"""Combining the signals, with weights fitted on validation scores, into calibrated confidences.

Each signal becomes one feature per (asset, label) pair:

* ``desc``  — description cosine minus the asset's best description cosine (0 for the closest label);
* ``cues``  — log(1 + cue words found);
* ``clf``   — the classifier's out-of-fold score (validation: it never saw the asset);
* ``prior`` — log share of the label among confirmed assets.

A logistic regression over all pairs (target: the label is among the asset's confirmed labels)
learns how much each signal counts *and* maps the sum to a probability in one step — Platt scaling
with the signals as inputs — so "0.8" means about eight in ten such suggestions are confirmed. The
weights are therefore measured, never set by hand; ``DEFAULT_COLD_START`` holds the weights fitted on
the demo library for a library that has no confirmed tags yet (``bench/tagging.py`` refits them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SOURCES = ("desc", "cues", "clf", "prior")


def features(
    desc: np.ndarray | None = None,
    cues: np.ndarray | None = None,
    clf: np.ndarray | None = None,
    prior: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """(n × labels) arrays per signal, shaped for the stacker; signals that are None are left out."""
    out: dict[str, np.ndarray] = {}
    if desc is not None:
        d = np.atleast_2d(desc).astype(np.float64)
        out["desc"] = d - d.max(axis=1, keepdims=True)
    if cues is not None:
        out["cues"] = np.atleast_2d(cues).astype(np.float64)
    if clf is not None:
        out["clf"] = np.atleast_2d(clf).astype(np.float64)
    if prior is not None:
        n = next(iter(out.values())).shape[0] if out else 1
        out["prior"] = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n, len(prior))).copy()
    return out


@dataclass
class Stacker:
    names: list[str]
    coef: list[float]
    intercept: float
    scale: dict[str, float] = field(default_factory=dict)  # per-signal standardisation used while fitting

    def logits(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        total: np.ndarray | None = None
        for name, c in zip(self.names, self.coef, strict=True):
            part = c * feats[name] / self.scale.get(name, 1.0)
            total = part if total is None else total + part
        assert total is not None
        return total + self.intercept

    def proba(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(feats), -30, 30)))

    def weights(self) -> dict[str, float]:
        """Weight per signal in its own units (what an editor sees in the accuracy report)."""
        return {n: round(c / self.scale.get(n, 1.0), 4) for n, c in zip(self.names, self.coef, strict=True)}

    def to_doc(self) -> dict[str, Any]:
        return {"names": self.names, "coef": self.coef, "intercept": self.intercept, "scale": self.scale}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Stacker:
        return cls(
            names=list(doc["names"]),
            coef=[float(c) for c in doc["coef"]],
            intercept=float(doc["intercept"]),
            scale={k: float(v) for k, v in doc.get("scale", {}).items()},
        )


def _logistic_newton(x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, iters: int = 50) -> np.ndarray:
    """Weighted L2-penalised logistic regression by Newton's method (a handful of features, so each
    step is a tiny solve); the last column of ``x`` is the intercept and is not penalised."""
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (sw * (p - y)) + penalty * beta
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta


def fit_stacker(
    feats: dict[str, np.ndarray],
    targets: np.ndarray,
    weights: np.ndarray | None = None,
    known: np.ndarray | None = None,
    *,
    l2: float = 0.1,
) -> Stacker:
    """Logistic regression over (asset, label) pairs; ``known`` masks pairs with no answer (a reject
    says a label is wrong, not which one is right). Signals are standardised while fitting so the
    small penalty treats them alike."""
    names = [n for n in SOURCES if n in feats]
    n, n_labels = targets.shape
    known = np.ones((n, n_labels), dtype=bool) if known is None else known
    w = np.ones(n) if weights is None else weights
    mask = known.ravel()
    scale = {name: float(feats[name].ravel()[mask].std() or 1.0) for name in names}
    y = (targets.ravel()[mask] > 0.5).astype(np.float64)
    if not mask.any() or len(np.unique(y)) < 2:
        return Stacker(names=names, coef=[0.0] * len(names), intercept=0.0, scale=scale)
    sw = np.repeat(w, n_labels)[mask]
    sw = sw * (len(sw) / sw.sum())
    # Every signal says "higher means more likely": a negative weight can only be noise from a
    # validation set one signal already separates, so such a signal is dropped and the rest refit.
    active = list(names)
    while True:
        x = np.stack([feats[name].ravel()[mask] / scale[name] for name in active] + [np.ones(int(mask.sum()))], axis=1)
        beta = _logistic_newton(x, y, sw, l2)
        negative = [name for name, b in zip(active, beta[:-1], strict=True) if b < 0 and name != "prior"]
        if not negative:
            break
        active.remove(min(negative, key=lambda name: beta[active.index(name)]))
    coef = {name: float(b) for name, b in zip(active, beta[:-1], strict=True)}
    return Stacker(names=names, coef=[coef.get(name, 0.0) for name in names], intercept=float(beta[-1]), scale=scale)


def topk_accuracy(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of assets whose top-k suggestions hold at least one of their labels."""
    has = targets.sum(axis=1) > 0
    if not has.any():
        return 0.0
    top = np.argsort(-scores[has], axis=1)[:, :k]
    hit = np.take_along_axis(targets[has], top, axis=1).max(axis=1) > 0
    return float(hit.mean())


def expected_calibration_error(scores: np.ndarray, targets: np.ndarray, bins: int = 10) -> float:
    """|confidence − accuracy| of the top suggestion, averaged over equal-width confidence bins."""
    has = targets.sum(axis=1) > 0
    if not has.any():
        return 0.0
    top = np.argmax(scores[has], axis=1)
    conf = scores[has][np.arange(has.sum()), top]
    hit = targets[has][np.arange(has.sum()), top] > 0
    edges = np.linspace(0, 1, bins + 1)
    err = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if sel.any():
            err += sel.mean() * abs(conf[sel].mean() - hit[sel].mean())
    return float(err)


# Weights of (desc, cues) fitted on generate_assets(2000) with multilingual-e5-small and the default
# cues: what a library with no confirmed tags yet starts from (another embedding model still ranks
# sensibly, its confidences are rougher until the first training). Refit: `python bench/tagging.py
# --cold-start`.
DEFAULT_COLD_START: dict[str, dict[str, Any]] = {
    "scenes": {
        "names": ["desc", "cues"],
        "coef": [1.1563, 1.959],
        "intercept": -3.1945,
        "scale": {"desc": 0.01313, "cues": 0.39019},
    },
    "channels": {
        "names": ["desc", "cues"],
        "coef": [0.1058, 0.6868],
        "intercept": -1.7245,
        "scale": {"desc": 0.01047, "cues": 0.23381},
    },
    "content_types": {
        "names": ["desc", "cues"],
        "coef": [0.5509, 0.5053],
        "intercept": -1.2958,
        "scale": {"desc": 0.01093, "cues": 0.3285},
    },
}
