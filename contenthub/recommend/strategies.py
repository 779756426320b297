"""Ranking strategies: named, stored sets of weights — the unit A/B experiments vary."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from contenthub import bad_records, doccache
from contenthub.errors import NotFoundError, unknown_value
from contenthub.hub import Hub
from contenthub.i18n import _

COLLECTION = "strategies"
SIGNALS = (
    "topic",
    "type",
    "appeal",
    "similarity",
    "affinity",
    "collaborative",
    "quality",
    "popularity",
    "freshness",
    "lifecycle",
)
"""topic / type: the user's engagement rate on the asset's discovered topic and on its content type (per-user
Beta posteriors shrunk to the population's rate on that topic or type; sampled when exploring); appeal: the
asset's engagement rate relative to its topic's (shrunk by an empirical-Bayes prior; sampled when
exploring). These three are log rates (``recommend/rates.py``), so they add up to the log of the expected
engagement rate and weight 1 means "proportional to the rate". The others are scaled to [0, 1] over a
request's candidates: a weight w on them lifts the score by at most w, as a factor e^w would lift the rate."""


RATE_SIGNALS = ("topic", "type", "appeal")
"""The log-rate signals. Their sum is the log of the expected engagement rate per delivery (the model's own
calibration), so in the per-delivery fit (``learning.fit_within_users``) they stay at weight 1 and the job
fits the other signals relative to them: a data-driven weight on a calibrated probability can only
mis-scale it (on simulated deployments the fitted rate weights varied by seed between 0 and 1 and the
hub lost to a learner that ranked by the rates alone)."""

RATE_PRIOR_SIGNALS = ("topic", "type")
"""The signals whose audience-level prior strength a strategy may carry (``Strategy.rate_prior``)."""

EXPLORATION_SHARE = 0.1
"""Share of requests that explore by default (``Strategy.exploration_share``). Why not every request: a user
gets one pick a day or less, and a Thompson draw on every one of them spends most of the short horizon
exploring — on simulated deployments Thompson sampling on every request lost a sixth of the clicks
that the posterior means won (``bench/sim_learners.py``). The posterior means explore by themselves: each
audience's rates are shrunk to the population's, so an untried topic sits at the population's rate and a
tried one that failed falls below it (failure-driven exploration; Bastani, Bayati & Khosravi 2021,
"Mostly exploration-free algorithms for contextual bandits"). The exploring share keeps every pick's
propensity known and off zero for the candidates the policy might send, which offline evaluation needs."""

MAX_WEIGHT = 100.0
"""Largest |weight| a strategy may give a signal. Signals are scaled to about 0–1, so 100 already lets one
signal drown every other; 1e308 made scores overflow to inf/NaN and picks carry ``"score": null``."""
Weight = Annotated[float, Field(ge=-MAX_WEIGHT, le=MAX_WEIGHT, allow_inf_nan=False)]


class Strategy(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9_\-]{1,40}$")
    description: str = ""
    weights: dict[str, Weight] = Field(default_factory=dict)  # NaN would scramble every ranking
    exploration: bool = Field(default=True, description="Thompson sampling on the quality posterior.")
    exploration_share: float = Field(
        default=EXPLORATION_SHARE,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description=(
            "With exploration on, the share of requests that rank by a Thompson draw (of each topic's and type's "
            "rate and of the learned weights); the others rank by the posterior means. 1: every request draws."
        ),
    )
    diversity: float = Field(default=0.75, ge=0, le=1, description="MMR lambda: 1 = pure score, lower = more varied.")
    freshness_half_life_days: float = Field(default=30.0, gt=0, le=36500, allow_inf_nan=False)
    uncertainty: dict[str, Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description=(
            "Posterior standard deviation of each learned weight (``strategies learn``): with exploration on, each "
            "request draws its weights from N(weight, uncertainty²) — linear Thompson sampling whose exploration "
            "shrinks as the brand's evidence grows. Empty for hand-set weights."
        ),
    )
    rate_prior: dict[str, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description=(
            "Pseudo-deliveries behind an audience's own rate on each topic / content type (keys 'topic', 'type'): "
            "the empirical-Bayes estimate of how much audiences differ from the population there (``strategies "
            "learn``). Small: audiences differ a lot, so their own few deliveries decide and exploration is spent "
            "there; large: they barely differ, so no exploration is wasted on noise. Empty: the profile default."
        ),
    )
    learned: dict[str, Any] = Field(default_factory=dict, description="What the last learning job measured.")

    def weight(self, signal: str) -> float:
        return float(self.weights.get(signal, 0.0))


DEFAULTS: dict[str, Strategy] = {
    "default": Strategy(
        id="default",
        description="The user's engagement rates on the asset's topic and type and the asset's rate within its topic "
        "(hierarchical Beta posteriors, Thompson-sampled), plus content similarity, tag affinity, "
        "co-engagement and popularity; `strategies learn` refits the weights on the brand's events.",
        # The rate signals at their model's own scale (1: the score is the log expected rate); the
        # [0, 1]-scaled heuristics each worth at most a factor e^0.1 ≈ 1.1 on that rate until the learning
        # job has measured them on the brand's own events. Why so little: they count only what an audience
        # engaged with, never what it ignored, so at 0.3 each they outvoted the rates after a single click
        # (on a simulated deployment 86% of picks were "similar", and the learning job, fitted on those
        # deliveries, gave similarity, tag affinity and co-engagement weight 0 — but not enough better on
        # held-out data to switch). Where they do predict engagement the job raises them (MovieLens:
        # similarity and co-engagement above 2). ``quality`` (the channel-wide rate, no topic) is left to
        # ``appeal``, which holds the same evidence without counting the topic twice.
        weights={
            "topic": 1.0,
            "type": 1.0,
            "appeal": 1.0,
            "similarity": 0.1,
            "affinity": 0.1,
            "collaborative": 0.1,
            "popularity": 0.1,
            "freshness": 0.05,
            "lifecycle": 0.1,
        },
    ),
    "popular": Strategy(
        id="popular",
        description="Most engaged on the channel (a baseline).",
        weights={"popularity": 1.0, "quality": 0.3},
        exploration=False,
    ),
    "content": Strategy(
        id="content",
        description="Content similarity and tag affinity only.",
        weights={"similarity": 1.0, "affinity": 1.0, "lifecycle": 0.3},
        exploration=False,
    ),
}


def get_strategy(hub: Hub, strategy_id: str) -> Strategy:
    """The stored strategy, else the built-in one of that id (memoised per process: see ``doccache`` —
    a put/delete here is seen at once, one in another process within ``doccache.TTL`` seconds).

    The returned model is shared between requests: treat it as read-only."""
    found = doccache.cached(hub, COLLECTION, strategy_id, lambda: _load_strategy(hub, strategy_id))
    if found is not None:
        return found
    raise unknown_value(
        "strategy", strategy_id, sorted({*DEFAULTS, *(d["id"] for d in hub.store.list_docs(COLLECTION))})
    )


def _stored(hub: Hub, doc: dict[str, Any]) -> Strategy | None:
    """A stored strategy, or None (noted in ``bad_records``) when an older version stored what the model now
    refuses (e.g. a weight beyond ±MAX_WEIGHT): the built-in of that id, or none, serves instead."""
    try:
        return Strategy.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        bad_records.note(
            hub, "strategy", str(doc.get("id")), ".".join(map(str, first["loc"])), first.get("input"), first["msg"]
        )
        return None


def _load_strategy(hub: Hub, strategy_id: str) -> Strategy | None:
    doc = hub.store.get_doc(COLLECTION, strategy_id)
    found = _stored(hub, doc) if doc is not None else None
    return found or DEFAULTS.get(strategy_id)


def list_strategies(hub: Hub) -> list[Strategy]:
    stored = {d["id"]: s for d in hub.store.list_docs(COLLECTION) if (s := _stored(hub, d)) is not None}
    return [*stored.values(), *(s for k, s in DEFAULTS.items() if k not in stored)]


def put_strategy(hub: Hub, strategy: Strategy) -> Strategy:
    for key in [*strategy.weights, *strategy.uncertainty]:
        if key not in SIGNALS:
            raise unknown_value("weights", key, list(SIGNALS))
    for key in strategy.rate_prior:
        if key not in RATE_PRIOR_SIGNALS:
            raise unknown_value("rate_prior", key, list(RATE_PRIOR_SIGNALS))
    hub.store.put_doc(COLLECTION, strategy.id, strategy.model_dump())
    hub.touch(COLLECTION)
    return strategy


def delete_strategy(hub: Hub, strategy_id: str) -> None:
    deleted = hub.store.delete_doc(COLLECTION, strategy_id)
    hub.touch(COLLECTION)
    if not deleted:
        raise NotFoundError(
            _("No stored strategy '{strategy_id}'.").format(strategy_id=strategy_id),
            field="strategy",
            value=strategy_id,
        )
