"""The planner's picker backed by the recommender: which asset fills a slot for this audience.

Ranking is the recommender's own (candidate mask, scored signals, explanations) so a planned slot and a
live `next content` request agree on what fits an audience. Differences, all on purpose:
- an asset must be valid at the slot's start (its validity window), not at planning time, and an asset
  without a window whose wording names an occasion (618, 中秋 …) is planned only in that occasion's season;
- signals are scored once per audience and channel at the week's reference time (`at`, e.g. Monday noon)
  and reused for every slot of the pair: a week is short next to the freshness half-life, and scoring
  per slot made planning 11 channels × 50 audiences several times slower;
- exploration is off and ties break by catalog order, so planning the same week twice gives the same plan.
Assets already planned for the audience this week come in `exclude_asset_ids`; assets its group received
recently are excluded as the recommender's redelivery window does.
"""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np

from contenthub.hub import Hub
from contenthub.i18n import _, current_language
from contenthub.library import taxonomy
from contenthub.library.seasonal import Occasion, in_season, occasions, occasions_named
from contenthub.publish.audiences import ranking_audience
from contenthub.publish.planner import Pick, PickRequest
from contenthub.recommend.catalog import Catalog, catalog
from contenthub.recommend.ranking import Audience as RankingAudience
from contenthub.recommend.ranking import candidate_mask, explain, score_candidates
from contenthub.recommend.strategies import get_strategy

STRATEGY = "default"
REASONS_SHOWN = 2
AUDIENCE_CACHE = "publish_audiences"
AUDIENCE_TTL = 600.0
SEASONAL_CACHE = "publish_seasonal_rows"


def _label_names(hub: Hub) -> dict[str, str]:
    """Feature names for pick reasons, in the language of whoever asked for the plan."""
    lang = current_language()
    names: dict[str, str] = {}
    for facet, prefix in (
        ("scenes", "s:"),
        ("content_types", "c:"),
        ("kinds", "k:"),
        ("channels", "ch:"),
        ("stages", "st:"),
    ):
        for entry in taxonomy.entries(hub.store, facet):
            names[prefix + entry.id] = taxonomy.label(entry, lang)
    return names


class RecommenderPicker:
    """Callable `PickRequest → Pick | None`; caches one ranking audience per audience key for a plan run."""

    def __init__(self, hub: Hub, now: datetime, at: datetime | None = None) -> None:
        self.hub = hub
        self.now = now
        self.at = at
        self.cat: Catalog = catalog(hub)
        self.strategy = get_strategy(hub, STRATEGY).model_copy(update={"exploration": False})
        self.names = _label_names(hub)
        self.calls = 0
        self._audiences: dict[str, tuple[RankingAudience, set[str]]] = {}
        self._type_masks: dict[str, np.ndarray] = {}
        self._scored: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]] = {}
        self._rng = np.random.default_rng(0)  # unused while exploration is off; score_candidates wants one
        self._seasonal = self._seasonal_rows()
        self._season_masks: dict[object, np.ndarray] = {}

    def _seasonal_rows(self) -> dict[int, list[Occasion]]:
        """Assets without a window whose text names an occasion (one scan per catalog, kept with it)."""
        hit = self.hub.cache.get(SEASONAL_CACHE)
        if hit is not None and hit[0] == id(self.cat):
            return hit[1]
        rows = occasions_named(self.cat.docs, occasions())
        self.hub.cache[SEASONAL_CACHE] = (id(self.cat), rows)
        return rows

    def _in_season(self, start: datetime) -> np.ndarray:
        """False for assets that name an occasion, have no window, and `start`'s day is out of its season
        (女神节 wording is not planned in December; set a campaign window to plan it on purpose)."""
        day = start.date()
        mask = self._season_masks.get(day)
        if mask is None:
            mask = np.ones(len(self.cat), dtype=bool)
            for row, named in self._seasonal.items():
                if not any(in_season(o, day) for o in named):
                    mask[row] = False
            self._season_masks[day] = mask
        return mask

    def _type_mask(self, content_type: str) -> np.ndarray:
        mask = self._type_masks.get(content_type)
        if mask is None:
            mask = np.array([d.get("content_type") == content_type for d in self.cat.docs], dtype=bool)
            self._type_masks[content_type] = mask
        return mask

    def _audience(self, request: PickRequest) -> tuple[RankingAudience, set[str]]:
        """Per plan run, and across runs for AUDIENCE_TTL seconds: re-planning right after planning is common
        and loading a group's member profiles is the slowest part of planning (publishing clears it)."""
        key = request.audience.key
        if key not in self._audiences:
            shared: dict[str, tuple[float, int, tuple[RankingAudience, set[str]]]] = self.hub.cache.setdefault(
                AUDIENCE_CACHE, {}
            )
            hit = shared.get(key)
            if hit is not None and time.monotonic() - hit[0] < AUDIENCE_TTL and hit[1] == id(self.cat):
                self._audiences[key] = hit[2]
            else:
                found = ranking_audience(self.hub, self.cat, request.audience, self.now)
                shared[key] = (time.monotonic(), id(self.cat), found)
                self._audiences[key] = found
        return self._audiences[key]

    def __call__(self, request: PickRequest) -> Pick | None:
        self.calls += 1
        if len(self.cat) == 0:
            return None
        aud, recently_sent = self._audience(request)
        exclude = set(aud.exclude) | set(request.exclude_asset_ids) | recently_sent
        kind_mask = self._type_mask(request.content_type)
        kind_mask = kind_mask & self._in_season(request.start)
        mask = candidate_mask(self.cat, request.channel, request.scene, request.start, exclude) & kind_mask
        scene_note = None
        if request.scene and not mask.any():
            # a holiday week prefers the holiday scene; without such an asset any scene is better than a gap
            mask = candidate_mask(self.cat, request.channel, None, request.start, exclude) & kind_mask
            scene_note = _("no {scene} asset left; best of any scene").format(
                scene=self.names.get("s:" + request.scene, request.scene)
            )
        if not mask.any():
            return None
        at = self.at or request.start
        rows, score, signals, explored = self._scores(request, aud, at)
        allowed = mask[rows]
        best = int(np.argmax(np.where(allowed, score, -np.inf)))  # first maximum: ties go to asset id order
        row = int(rows[best])
        doc = self.cat.docs[row]
        shown = {k: round(float(v[best]), 4) for k, v in signals.items()}
        reasons = explain(
            self.cat, aud, self.strategy, row, shown, bool(explored[best]), request.channel, self.names, at
        )
        parts = [r["detail"] for r in reasons[:REASONS_SHOWN]]
        parts.append(_("score {score:.3f} of {n} candidates").format(score=float(score[best]), n=int(allowed.sum())))
        if scene_note:
            parts.append(scene_note)
        scenes = doc.get("scenes") or []
        scene = request.scene if request.scene in scenes else (scenes[0] if scenes else None)
        return Pick(asset_id=self.cat.ids[row], title=doc.get("title"), scene=scene, reason=_("; ").join(parts))

    def _scores(
        self, request: PickRequest, aud: RankingAudience, at: datetime
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Scores of every asset on the channel for the audience, computed once per (audience, channel).

        Min-max scaling runs over the channel's whole catalog rather than each slot's candidates, so
        scores compare across the slots of a pair.
        """
        key = (request.audience.key, request.channel)
        hit = self._scored.get(key)
        if hit is None:
            rows = np.flatnonzero(self.cat.channel_mask.get(request.channel, np.zeros(len(self.cat), dtype=bool)))
            score, signals, explored = score_candidates(
                self.cat, aud, self.strategy, request.channel, rows, at, self._rng
            )
            hit = self._scored[key] = (rows, score, signals, explored)
        return hit
