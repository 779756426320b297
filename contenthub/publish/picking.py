"""The planner's picker backed by the recommender: which asset fills a slot for this audience.

Ranking is the recommender's own (candidate mask, scored signals, explanations) so a planned slot and a
live `next content` request agree on what fits an audience. Two differences, both on purpose:
- candidates are judged at the slot's start (validity window, freshness), not at planning time;
- exploration is off and ties break by catalog order, so planning the same week twice gives the same plan.
Assets already planned for the audience this week come in `exclude_asset_ids`; assets its group received
recently are excluded as the recommender's redelivery window does.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.publish.audiences import ranking_audience
from contenthub.publish.planner import Pick, PickRequest
from contenthub.recommend.catalog import Catalog, catalog
from contenthub.recommend.ranking import Audience as RankingAudience
from contenthub.recommend.ranking import candidate_mask, explain, score_candidates
from contenthub.recommend.strategies import get_strategy

STRATEGY = "default"
REASONS_SHOWN = 2


def _label_names(hub: Hub) -> dict[str, str]:
    names: dict[str, str] = {}
    for facet, prefix in (("scenes", "s:"), ("content_types", "c:"), ("kinds", "k:")):
        for entry in taxonomy.entries(hub.store, facet):
            names[prefix + entry.id] = entry.zh
    return names


class RecommenderPicker:
    """Callable `PickRequest → Pick | None`; caches one ranking audience per audience key for a plan run."""

    def __init__(self, hub: Hub, now: datetime) -> None:
        self.hub = hub
        self.now = now
        self.cat: Catalog = catalog(hub)
        self.strategy = get_strategy(hub, STRATEGY).model_copy(update={"exploration": False})
        self.names = _label_names(hub)
        self.calls = 0
        self._audiences: dict[str, tuple[RankingAudience, set[str]]] = {}
        self._type_masks: dict[str, np.ndarray] = {}
        self._rng = np.random.default_rng(0)  # unused while exploration is off; score_candidates wants one

    def _type_mask(self, content_type: str) -> np.ndarray:
        mask = self._type_masks.get(content_type)
        if mask is None:
            mask = np.array([d.get("content_type") == content_type for d in self.cat.docs], dtype=bool)
            self._type_masks[content_type] = mask
        return mask

    def _audience(self, request: PickRequest) -> tuple[RankingAudience, set[str]]:
        key = request.audience.key
        if key not in self._audiences:
            self._audiences[key] = ranking_audience(self.hub, self.cat, request.audience, self.now)
        return self._audiences[key]

    def __call__(self, request: PickRequest) -> Pick | None:
        self.calls += 1
        if len(self.cat) == 0:
            return None
        aud, recently_sent = self._audience(request)
        exclude = set(aud.exclude) | set(request.exclude_asset_ids) | recently_sent
        kind_mask = self._type_mask(request.content_type)
        mask = candidate_mask(self.cat, request.channel, request.scene, request.start, exclude) & kind_mask
        scene_note = None
        if request.scene and not mask.any():
            # a holiday week prefers the holiday scene; without such an asset any scene is better than a gap
            mask = candidate_mask(self.cat, request.channel, None, request.start, exclude) & kind_mask
            scene_note = f"no '{request.scene}' asset left; best of any scene"
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return None
        score, signals, explored = score_candidates(
            self.cat, aud, self.strategy, request.channel, idx, request.start, self._rng)
        best = int(np.argmax(score))  # first maximum: ties go to catalog (asset id) order
        row = int(idx[best])
        doc = self.cat.docs[row]
        shown = {k: round(float(v[best]), 4) for k, v in signals.items()}
        reasons = explain(self.cat, aud, self.strategy, row, shown, bool(explored[best]), request.channel,
                          self.names, request.start)
        parts = [r["detail"] for r in reasons[:REASONS_SHOWN]]
        parts.append(f"score {float(score[best]):.3f} of {idx.size} candidates")
        if scene_note:
            parts.append(scene_note)
        scenes = doc.get("scenes") or []
        scene = request.scene if request.scene in scenes else (scenes[0] if scenes else None)
        return Pick(asset_id=self.cat.ids[row], title=doc.get("title"), scene=scene, reason="; ".join(parts))
