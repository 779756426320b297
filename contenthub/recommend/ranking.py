"""Where a score is computed: candidate signals, their blend, exploration and diversity.

Every signal is scaled to [0, 1] over the candidates of one request before the strategy's weights
apply, so weights mean the same thing whatever the model, corpus or traffic volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

import numpy as np

from contenthub.audience.engagement import ALL_CHANNELS
from contenthub.i18n import _
from contenthub.labels import label as code_label
from contenthub.recommend import rates, raw_signals
from contenthub.recommend.catalog import SIMILARITY_MEMO_MAX_ROWS, Catalog, ChannelBlock
from contenthub.recommend.scoring import rate_draw, rate_signal, with_strength
from contenthub.recommend.strategies import SIGNALS, Strategy

PRIOR_STRENGTH = 20.0  # pseudo-deliveries behind the channel-wide click rate


@dataclass
class Audience:
    """What ranking knows about the user or group it ranks for."""

    weights: dict[str, float] = field(default_factory=dict)  # decayed engagement-tag weights (t:/s:/c:/k:)
    vector: np.ndarray | None = None  # decayed mean of engaged asset vectors
    # how ``vector`` was made: it is Σ vector_weights[i]·cat.vectors[vector_rows[i]] / vector_norm (see similarity)
    vector_rows: list[int] = field(default_factory=list)
    vector_weights: np.ndarray | None = None
    vector_norm: float = 1.0
    recent_positive: list[tuple[str, float]] = field(default_factory=list)  # (asset id, weight), newest first
    stage: str | None = None
    stage_scenes: list[str] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)
    target: str | None = None  # the user id, so the engagement model can add the user's whole history
    # Beta posteriors (alpha, beta per topic / content type index of the catalog, plus the "none" slot) of the
    # audience's engagement per delivery on each topic and type, from the profile's e:/g: counters, and the
    # priors they were shrunk to (the population's rate on each topic and type, ``audiences.population_rates``)
    topic_ab: tuple[np.ndarray, np.ndarray] | None = None
    type_ab: tuple[np.ndarray, np.ndarray] | None = None
    topic_prior: tuple[np.ndarray, np.ndarray] | None = None
    type_prior: tuple[np.ndarray, np.ndarray] | None = None
    purpose: str | None = None  # a group's purpose: then ``stage_scenes`` are the purpose's scenes

    def has_evidence(self) -> bool:
        """Whether the audience's own deliveries or engagement moved any topic or type rate off its prior."""
        for ab, prior in ((self.topic_ab, self.topic_prior), (self.type_ab, self.type_prior)):
            if ab is not None and prior is not None and (np.any(ab[0] != prior[0]) or np.any(ab[1] != prior[1])):
                return True
        return False


@dataclass
class Ranked:
    index: int
    score: float
    signals: dict[str, float]
    explored: bool


def minmax_scalars(lo: float, hi: float) -> tuple[float, float]:
    """The scaling rule of every scaled signal, for candidates with extremes ``lo`` and ``hi``:
    (scale, offset) with minmax(x) = x·scale + offset, so that the values span [0, 1]; flat values give
    0 (all ≤ 0) or 0.5. One request applies it to its candidates (``_minmax``), the batch to each user's
    row of a block (``minmax_coefficients``)."""
    span = hi - lo
    if span < 1e-12:
        return 0.0, 0.0 if hi <= 0 else 0.5
    scale = 1.0 / span
    return scale, -lo * scale


def signed_scalars(lo: float, hi: float) -> tuple[float, float, float]:
    """Affinity's scaling rule — minmax of the positive part minus half the minmax of the negative part —
    as (p, q, c): scaled = p·max(x, 0) + q·min(x, 0) + c (both parts' extremes follow from x's)."""
    p, c1 = minmax_scalars(max(lo, 0.0), max(hi, 0.0))
    q, c2 = minmax_scalars(max(-hi, 0.0), max(-lo, 0.0))  # of max(−x, 0) = −min(x, 0)
    return p, 0.5 * q, c1 - 0.5 * c2


_minmax_rows = np.frompyfunc(minmax_scalars, 2, 2)
_signed_rows = np.frompyfunc(signed_scalars, 2, 3)


def minmax_coefficients(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``minmax_scalars`` of each row's extremes (a block of users in the batch)."""
    scale, offset = _minmax_rows(lo, hi)
    return np.asarray(scale, dtype=np.float64), np.asarray(offset, dtype=np.float64)


def signed_coefficients(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``signed_scalars`` of each row's extremes."""
    p, q, c = _signed_rows(lo, hi)
    return np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64)


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    scale, offset = minmax_scalars(float(np.minimum.reduce(x)), float(np.maximum.reduce(x)))
    if scale == 0.0:
        return np.full_like(x, offset)
    out = x * scale  # a Python float keeps a float32 signal float32
    out += offset
    return out


def candidate_mask(cat: Catalog, channel: str, scene: str | None, now: datetime, exclude: set[str]) -> np.ndarray:
    n = len(cat)
    mask = cat.channel_mask.get(channel, np.zeros(n, dtype=bool)).copy()
    if scene:
        mask &= cat.scene_mask.get(scene, np.zeros(n, dtype=bool))
    t = now.timestamp()
    mask &= (cat.valid_from <= t) & (cat.valid_until > t)
    for aid in exclude:
        i = cat.index.get(aid)
        if i is not None:
            mask[i] = False
    return mask


def candidate_rows(
    cat: Catalog, channel: str, scene: str | None, now: datetime, exclude: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """What ``np.flatnonzero(candidate_mask(...))`` gives, plus where those rows sit in the channel's block,
    computed over the channel's block only: (catalog rows ascending, their positions in ``cat.block(channel)``)."""
    blk = cat.block(channel)
    size = blk.rows.size
    keep: np.ndarray | None = None
    if scene:
        keep = blk.scene_mask(cat, scene).copy()
    if blk.valid_from is not None and blk.valid_until is not None:
        t = now.timestamp()
        valid = (blk.valid_from <= t) & (blk.valid_until > t)
        keep = valid if keep is None else keep & valid
    if exclude and size:
        found = [i for i in (cat.index.get(a) for a in exclude) if i is not None]
        if found:
            rows = np.asarray(found, dtype=np.int64)
            at = np.minimum(np.searchsorted(blk.rows, rows), size - 1)
            hit = at[blk.rows[at] == rows]
            if hit.size:
                if keep is None:
                    keep = np.ones(size, dtype=bool)
                keep[hit] = False
    if keep is None:
        return blk.rows, np.arange(size)
    pos = np.flatnonzero(keep)
    return blk.rows[pos], pos


def posterior(cat: Catalog, channel: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(alpha, beta, mean, exploration threshold) of every catalog row on the channel, once per stats refresh
    (element-wise the same arithmetic ``quality_posterior`` and ``score_candidates`` do on candidates)."""
    st = cat.stats.get(channel)
    if st is None:
        return None
    found = st.memo.get("posterior")
    if found is None:
        a, b = _posterior_of(st, len(cat), slice(None))
        mean = a / (a + b)
        found = st.memo["posterior"] = (a, b, mean, mean + 2 * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    return found


THOMPSON_POOL = 32
"""Posterior draws kept per asset and channel; a request takes one of them at random per candidate."""
THOMPSON_SEED = 20241
"""The pool's seed: the same statistics give the same pool in every process (seeded requests repeat)."""


def posterior_samples(cat: Catalog, channel: str, post: tuple[np.ndarray, ...]) -> np.ndarray:
    """(catalog rows × THOMPSON_POOL) draws from each row's Beta posterior on the channel, once per stats
    refresh (a few tens of ms, every ``catalog.STATS_TTL`` s).

    Why a pool: drawing a Beta sample for each of ~4,000 candidates cost 0.3 ms a request, a fifth of
    next content. Taking one of 32 draws made from the same posterior keeps Thompson sampling's
    marginal law exactly (each value is a Beta(α, β) draw); what changes is that two requests may
    reuse a draw (1 in 32 per asset), which only matters to exploration within the 30 s between
    refreshes, when the posterior would barely have moved anyway."""
    memo = cat.stats[channel].memo
    found = memo.get("samples")
    if found is None:
        a, b = post[0], post[1]
        draws = np.random.default_rng(THOMPSON_SEED).beta(a[:, None], b[:, None], size=(a.size, THOMPSON_POOL))
        found = memo["samples"] = draws.astype(np.float32)
    return found


def _topic_slots(cat: Catalog) -> tuple[np.ndarray, int]:
    """(topic slot of every catalog row, number of topics); without discovered topics every row is in the
    "none" slot 0 of zero topics."""
    if cat.topic_of_row.size == len(cat):
        return cat.topic_of_row, len(cat.topic_names)
    return np.zeros(len(cat), dtype=np.int64), 0


def appeal_posterior(cat: Catalog, channel: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(alpha, beta, topic rate, mean log lift, prior strength) of every catalog row on the channel, once per
    stats refresh: each asset's engagement rate shrunk to its topic's rate on the channel (popularity within
    the topic), with a prior strength estimated from how much the assets really differ
    (``rates.eb_strength``). The appeal signal is log(rate / topic rate): how much better this asset does
    than its topic — the topic itself is the user's signal (``topic``), so the two add up without
    counting the topic twice. None before the channel has statistics."""
    st = cat.stats.get(channel)
    if st is None:
        return None
    found = st.memo.get("appeal")
    if found is None:
        success, delivered, _ignored = st.quality_inputs(len(cat))
        base = rates.brand_rate(success, delivered)
        slot, k = _topic_slots(cat)
        p_row = rates.slot_rates(success, delivered, slot, k, base)[slot]
        m = rates.eb_strength(success, delivered, p_row)
        a, b = rates.posterior(success, delivered, p_row, m)
        found = st.memo["appeal"] = (a, b, p_row, rates.log_lift(a / (a + b), p_row), m)
    return found


def pooled_draw(
    samples: np.ndarray, idx: np.ndarray, rng: np.random.Generator, offsets: np.ndarray | None = None
) -> np.ndarray:
    """A Thompson sample for each candidate row of ``idx``: one of its pooled draws (``posterior_samples``),
    picked at random. ``offsets``: ``idx * THOMPSON_POOL`` when the caller keeps it made."""
    base = idx * THOMPSON_POOL if offsets is None else offsets
    return samples.take(base + rng.integers(0, THOMPSON_POOL, size=idx.size))


def channel_log_popularity(cat: Catalog, channel: str) -> np.ndarray | None:
    """log1p(popularity) per catalog row on the channel, else over all channels, else None (no stats yet)."""
    log_pop = cat.log_popularity.get(channel)
    return log_pop if log_pop is not None else cat.log_popularity.get(ALL_CHANNELS)


def _posterior_of(st: Any, n: int, idx: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
    success, delivered, rate = st.quality_inputs(n)
    base = float(np.clip(rate, 0.01, 0.9))
    a0, b0 = base * PRIOR_STRENGTH, (1 - base) * PRIOR_STRENGTH
    s = np.minimum(success[idx], delivered[idx] * 3)  # several clicks per delivery are possible; cap the credit
    d = np.maximum(delivered[idx], s / 3)
    return a0 + s, b0 + np.maximum(d - s / 3, 0)


def quality_posterior(cat: Catalog, channel: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta posterior (alpha, beta) of 'engaged per delivery' on this channel, shrunk to the channel mean."""
    st = cat.stats.get(channel)
    if st is None:
        a = np.full(idx.size, 1.0)
        return a, np.full(idx.size, 19.0)
    return _posterior_of(st, len(cat), idx)


def _channel_positions(cat: Catalog, channel: str, idx: np.ndarray) -> tuple[ChannelBlock, np.ndarray] | None:
    """(channel block, positions of ``idx`` in it) when every candidate is on the channel, else None."""
    blk = cat.block(channel)
    if idx.size == 0 or blk.rows.size == 0:
        return None
    pos = np.searchsorted(blk.rows, idx)
    if pos[-1] >= blk.rows.size or not np.array_equal(blk.rows[pos], idx):
        return None
    return blk, pos


def engaged_model_rows(model: Any, aud: Audience) -> np.ndarray | None:
    """The modelled assets the audience engaged with (whole history as of the last fit, plus recent positive
    events), ascending; None without any."""
    if not model.asset_ids:
        return None
    engaged = set(model.engaged(aud.target).tolist())
    engaged.update(j for j in (model.position.get(a) for a, w in aud.recent_positive if w > 0) if j is not None)
    if not engaged:
        return None
    return np.fromiter(sorted(engaged), dtype=np.int64, count=len(engaged))


def _model_where(
    cat: Catalog, channel: str, idx: np.ndarray, on_channel: tuple[ChannelBlock, np.ndarray] | None
) -> tuple[Any, np.ndarray] | None:
    """(the engagement model, position in it of each column — the channel block's rows when ``on_channel``,
    else ``idx`` — or the model's size where it does not hold the asset); None without a model."""
    view = cat.model_view
    if view is None:
        return None
    model, model_rows = view
    if on_channel is not None:
        return model, on_channel[0].model_position(cat, model, model_rows)
    m = len(model.asset_ids)
    by_row = np.full(len(cat), m, dtype=np.int64)
    present = np.flatnonzero(model_rows >= 0)
    by_row[model_rows[present]] = present
    return model, by_row[idx]


def raw_values(
    cat: Catalog,
    aud: Audience,
    strategy: Strategy,
    channel: str,
    idx: np.ndarray,
    on_channel: tuple[ChannelBlock, np.ndarray] | None,
) -> dict[str, np.ndarray]:
    """The raw similarity, affinity and collaborative values of candidates ``idx`` for one audience (those
    the strategy weighs and the audience has): ``raw_signals.raw_values`` on a block of one — the audience's
    row, and the candidate columns of the channel block (then cut to the candidates' positions) or of
    ``idx``; the collaborative product runs over the model's items and is gathered onto the candidates
    (``Columns.collaborative_at``), 0 where the model does not hold the asset."""
    rows, cols = raw_signals.Audiences(), raw_signals.Columns()
    blk = on_channel[0] if on_channel is not None else None
    if aud.vector is not None and strategy.weight("similarity"):
        if (
            blk is not None
            and aud.vector_rows
            and aud.vector_weights is not None
            and len(aud.vector_rows) <= SIMILARITY_MEMO_MAX_ROWS
        ):
            rows.recent = raw_signals.Rows.one(np.asarray(aud.vector_weights, dtype=np.float32) / aud.vector_norm)
            cols.similarity = blk.similarity_rows(cat, aud.vector_rows)
        else:
            rows.vectors = np.asarray(aud.vector, dtype=np.float32)[None, :]
            cols.vectors = blk.vectors if blk is not None else cat.vectors[idx]
    if aud.weights and strategy.weight("affinity"):
        w = np.zeros((cat.features.shape[1], 1), dtype=np.float32)
        index = cat.feature_index
        for f, val in aud.weights.items():
            j = index.get(f)
            if j is not None:
                w[j, 0] = val
        rows.tags = w
        cols.features = blk.features if blk is not None else cat.features[idx]
    if strategy.weight("collaborative"):
        found = _model_where(cat, channel, idx, on_channel)
        engaged = engaged_model_rows(found[0], aud) if found is not None else None
        if found is not None and engaged is not None:
            model, cols.collaborative_at = found
            rows.engaged = raw_signals.Rows.one(np.ones(engaged.size, dtype=np.float32))
            cols.collaborative = np.asarray(model.weights, dtype=np.float32)[engaged]
    out = {}
    for name, values in raw_signals.raw_values(rows, cols).items():
        v = values[0]
        if on_channel is not None and on_channel[1].size != v.size:  # some of the block excluded
            v = v.take(on_channel[1])
        out[name] = v
    return out


def _signed_minmax(raw: np.ndarray) -> np.ndarray:
    """Affinity's scaling (``signed_scalars``) of one request's candidates. When no candidate scores
    below zero (a profile without negative tag weights, most of them) the negative part is all zeros and
    the rule is ``_minmax`` of ``raw`` itself."""
    if raw.size == 0:
        return raw
    lo, hi = float(np.minimum.reduce(raw)), float(np.maximum.reduce(raw))
    if lo >= 0:
        return _minmax(raw)
    p, q, c = signed_scalars(lo, hi)
    out = np.maximum(raw, 0) * p
    out += np.minimum(raw, 0) * q
    out += c
    return out


def _on_rows(
    on_channel: tuple[ChannelBlock, np.ndarray] | None, arr: np.ndarray, idx: np.ndarray, *, copy: bool = False
) -> np.ndarray:
    """``arr[idx]`` for a per-catalog-row array. When the candidates are the channel's whole block (no
    exclusion on the channel, about half the requests) the block's own copy of ``arr`` is returned — made
    once per array (``ChannelBlock.rows_of``) — instead of gathering ~4,000 values per request.
    ``copy``: the caller edits the result."""
    if on_channel is not None:
        blk, pos = on_channel
        if pos.size == blk.rows.size:
            found = blk.rows_of(arr)
            return found.copy() if copy else found
    return arr[idx]


def _pooled_draw_on(
    on_channel: tuple[ChannelBlock, np.ndarray] | None, samples: np.ndarray, idx: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``pooled_draw(samples, idx, rng)``, the same draws from the same random numbers, with the flat
    offsets of the whole block's rows (``idx * THOMPSON_POOL``) made once per block."""
    if on_channel is not None:
        blk, pos = on_channel
        if pos.size == blk.rows.size and idx.size:
            return pooled_draw(samples, idx, rng, blk.rows_of_offsets(THOMPSON_POOL))
    return pooled_draw(samples, idx, rng)


@dataclass
class Draws:
    """What a request drew at random, kept so ``propensities`` can re-draw it (see there)."""

    weights: dict[str, float] = field(default_factory=dict)  # the weights this request used
    rate_draws: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = field(default_factory=dict)
    # signal → (alpha, beta, index of each candidate into them, the reference rate of the log lift)
    quality: tuple[np.ndarray, float, float] | None = None  # (pooled samples, min, span) when sampled
    quality_ab: tuple[np.ndarray, np.ndarray, float, float] | None = None  # (alpha, beta, min, span) without a pool
    explore: bool = False  # whether this request ranked by a draw (``explores``), else by the posterior means
    share: float = 1.0  # the probability that it would (``exploring_share``)


def _rate_signal(
    name: str,
    ab: tuple[np.ndarray, np.ndarray],
    of_row: np.ndarray,
    on_channel: Any,
    idx: np.ndarray,
    explore: bool,
    rng: np.random.Generator,
    draws: Draws | None,
    record: bool,
) -> np.ndarray:
    """The audience's engagement rate on each candidate's topic (or type) as a log lift over the brand's
    rate (the posterior's "none" slot holds the prior at the brand rate): a Thompson draw per topic from
    its Beta posterior when exploring (a few draws per request: one per topic, not per asset), else the
    mean. Exploration thus shrinks as the user's own deliveries narrow the posterior, and the unit — a
    log rate — is the one the learning job's model is specified in (``rates``). ``record``: keep the
    posterior in ``draws`` (the policy explores on some requests: ``propensities`` re-draws it either way)."""
    a, b = ab
    ref = float(a[-1] / (a[-1] + b[-1]))
    drawn = rate_draw(a, b, explore, rng)
    at = _on_rows(on_channel, of_row, idx)
    if draws is not None and record:
        draws.rate_draws[name] = (a, b, at, ref)
    return rate_signal(drawn, at, ref)


def exploring_share(strategy: Strategy, evidence: bool | np.ndarray) -> np.ndarray:
    """The probability that a request ranks by a Thompson draw, for an audience with or without evidence of
    its own (``Audience.has_evidence``: one flag for a request, one per user for a batch block): with
    exploration on, ``strategy.exploration_share`` (``strategies.EXPLORATION_SHARE`` says why not every
    request), and 1 for an audience without evidence — its rates are all the population's, so the means
    rank every such audience alike (each cold user would get the same asset, and the hub would learn about
    one asset a day) while a draw costs nothing and spreads them over the topics people engage with.
    Returns an array of ``evidence``'s shape (0-d for one request)."""
    has = np.asarray(evidence, dtype=bool)
    if not strategy.exploration:
        return np.zeros(has.shape)
    if strategy.exploration_share >= 1.0:
        return np.ones(has.shape)
    return np.where(has, strategy.exploration_share, 1.0)


def explores(share: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether each request explores, with probability ``share`` (``exploring_share``; 0-d for one request,
    one per user for a batch block). Only the shares strictly between 0 and 1 take a uniform draw, in order,
    so one request consumes the same random numbers whatever the batch around it."""
    s = np.asarray(share, dtype=np.float64)
    if s.ndim == 0:  # one request: plain floats (the same draw as the block's), not five array operations
        v = float(s)
        return np.asarray(v >= 1.0 or (v > 0.0 and float(rng.random()) < v))
    out = s >= 1.0
    mid = np.flatnonzero((s > 0.0) & ~out)
    if mid.size:
        out[mid] = rng.random(mid.size) < s[mid]
    return out


def quality_values(
    cat: Catalog,
    strategy: Strategy,
    channel: str,
    idx: np.ndarray,
    rng: np.random.Generator,
    on_channel: tuple[ChannelBlock, np.ndarray] | None = None,
    draws: Draws | None = None,
    explore: bool | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The quality signal of candidate rows ``idx`` before scaling, and with exploration which candidates
    were explored (their draw above the posterior's mean + 2 sd): the posterior mean of engagement per
    delivery on the channel, or with exploration one of each candidate's pooled posterior draws
    (``posterior_samples``; a fresh Beta draw before the channel has statistics). ``draws``: filled for
    ``propensities``. ``explore``: whether this request explores (``explores``; default: whenever the
    strategy explores)."""
    post = posterior(cat, channel)  # per-row arrays memoised per stats refresh
    if not (strategy.exploration if explore is None else explore):
        if post is None:
            a, b = quality_posterior(cat, channel, idx)
            return a / (a + b), None
        return _on_rows(on_channel, post[2], idx), None
    if post is None:
        a, b = quality_posterior(cat, channel, idx)
        sample = rng.beta(a, b)
        if draws is not None and sample.size:
            lo = float(sample.min())
            draws.quality_ab = (a, b, lo, float(sample.max()) - lo)
        mean = a / (a + b)
        return sample, sample > mean + 2 * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    samples = posterior_samples(cat, channel, post)
    sample = _pooled_draw_on(on_channel, samples, idx, rng)  # one of each candidate's pre-drawn samples
    if draws is not None:
        lo = float(sample.min()) if sample.size else 0.0
        draws.quality = (samples, lo, (float(sample.max()) - lo) if sample.size else 0.0)
    return sample, sample > _on_rows(on_channel, post[3], idx)


def popularity_values(
    cat: Catalog, channel: str, idx: np.ndarray, on_channel: tuple[ChannelBlock, np.ndarray] | None = None
) -> np.ndarray | None:
    """log1p(popularity) of candidate rows ``idx`` before scaling; None before any statistics."""
    log_pop = channel_log_popularity(cat, channel)
    return None if log_pop is None else _on_rows(on_channel, log_pop, idx)


@overload
def drawn_weights(strategy: Strategy, rng: np.random.Generator, explore: bool = True) -> dict[str, float]: ...
@overload
def drawn_weights(strategy: Strategy, rng: np.random.Generator, explore: np.ndarray) -> dict[str, np.ndarray]: ...
def drawn_weights(
    strategy: Strategy, rng: np.random.Generator, explore: bool | np.ndarray = True
) -> dict[str, float] | dict[str, np.ndarray]:
    """The weights of a request: the strategy's, or on an exploring request with learned uncertainty a draw
    from N(weight, uncertainty²) clipped at 0 (linear Thompson sampling on the learned weights).
    ``explore``: one request's flag (→ one weight per signal), or one flag per user of a batch block (→ an
    array of weights per signal, drawn for the exploring users only, signal by signal in ``SIGNALS``
    order — one request consumes the same random numbers either way)."""
    drawing = strategy.exploration and bool(strategy.uncertainty)
    if isinstance(explore, (bool, np.bool_)):
        if not (explore and drawing):
            return {k: float(v) for k, v in strategy.weights.items()}
        return {k: float(v[0]) for k, v in drawn_weights(strategy, rng, np.ones(1, dtype=bool)).items()}
    rows = np.flatnonzero(explore) if drawing else np.zeros(0, dtype=np.int64)
    out = {}
    for k in SIGNALS:
        w, sd = strategy.weight(k), float(strategy.uncertainty.get(k, 0.0))
        col = np.full(explore.shape, w, dtype=np.float64)
        if sd > 0 and rows.size:
            col[rows] = np.maximum(w + sd * rng.standard_normal(rows.size), 0.0)
        out[k] = col
    return out


def score_candidates(
    cat: Catalog,
    aud: Audience,
    strategy: Strategy,
    channel: str,
    idx: np.ndarray,
    now: datetime,
    rng: np.random.Generator,
    *,
    positions: np.ndarray | None = None,
    draws: Draws | None = None,
    explore: bool | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Blend of the strategy's signals for candidate rows ``idx``; returns (score, signals, explored flags).

    ``positions``: where ``idx`` sits in ``cat.block(channel)`` when the caller knows (``candidate_rows``).
    ``draws``: filled with this request's random draws (for ``propensities``). ``explore``: whether this
    request explores when that was decided already (the batch decides per user by the same rule,
    ``explores``); None: decide it here."""
    m = idx.size
    sig: dict[str, np.ndarray] = {}
    share = float(exploring_share(strategy, strategy.exploration and aud.has_evidence()))
    if explore is None:
        explore = bool(explores(np.asarray(share), rng))
    weights = drawn_weights(strategy, rng, explore)
    if draws is not None:
        draws.weights = weights
        draws.explore, draws.share = explore, share
    on_channel: tuple[ChannelBlock, np.ndarray] | None
    if positions is not None:
        on_channel = (cat.block(channel), positions)
    else:
        on_channel = _channel_positions(cat, channel, idx)  # contiguous rows: no copy of idx's vectors
    for name, ab, prior, of_row, present in (
        ("topic", aud.topic_ab, aud.topic_prior, cat.topic_of_row, bool(cat.topic_names)),
        ("type", aud.type_ab, aud.type_prior, cat.type_of_row, len(cat.type_names) > 1),
    ):
        if ab is not None and strategy.weight(name) and present:
            sig[name] = _rate_signal(
                name,
                with_strength(*ab, prior, strategy.rate_prior.get(name)),
                of_row,
                on_channel,
                idx,
                explore,
                rng,
                draws,
                strategy.exploration,
            )
    if strategy.weight("appeal"):
        # The posterior mean, never a draw: Thompson sampling over hundreds of assets at once spends the
        # pick on whichever asset's draw is luckiest (the maximum of hundreds of draws), which crowded out
        # the learning that pays — the audience's few topics and types, sampled above. Each asset's rate is
        # learned anyway from the deliveries that exploration over topics and types makes.
        app = appeal_posterior(cat, channel)
        if app is not None:
            sig["appeal"] = _on_rows(on_channel, app[3], idx)
    # the raw similarity, affinity and collaborative values: the batch's block function, on a block of one
    for name, values in raw_values(cat, aud, strategy, channel, idx, on_channel).items():
        sig[name] = _signed_minmax(values) if name == "affinity" else _minmax(values)
    explored = np.zeros(m, dtype=bool)
    if strategy.weight("quality"):
        qual, drawn = quality_values(cat, strategy, channel, idx, rng, on_channel, draws, explore=explore)
        sig["quality"] = _minmax(qual)
        if drawn is not None:
            explored = drawn
    if strategy.weight("popularity"):
        pop = popularity_values(cat, channel, idx, on_channel)
        if pop is not None:
            sig["popularity"] = _minmax(pop)
    if strategy.weight("freshness"):
        sig["freshness"] = freshness(cat, idx, now, strategy.freshness_half_life_days, on_channel=on_channel)
    if aud.stage and strategy.weight("lifecycle"):
        sig["lifecycle"] = _on_rows(on_channel, cat.lifecycle_fit(aud.stage, tuple(aud.stage_scenes)), idx)
    score = np.zeros(m)
    for name in SIGNALS:
        if name in sig:
            score += weights.get(name, 0.0) * sig[name]
    return score, sig, explored


PROPENSITY_DRAWS = 16
"""Re-draws of a request's randomness that estimate each pick's propensity."""
PROPENSITY_POOL = 16
"""Candidates (the best by the realised score) among which the re-draws compete; the rest never won in
practice, since their score would need to rise above all of these in one draw."""


def propensities(
    strategy: Strategy,
    idx: np.ndarray,
    score: np.ndarray,
    sig: dict[str, np.ndarray],
    draws: Draws,
    chosen: list[int],
    rng: np.random.Generator,
) -> list[tuple[float, bool]]:
    """(P(each chosen candidate would be ranked within the first ``len(chosen)``), whether it was exploration:
    not among the candidates the posterior means rank first) under the policy's randomness.

    The policy is a mixture (``explores``): with probability 1 − s (s = ``exploring_share``) the request
    ranks by the posterior means — deterministic, so its picks are known: this request's own picks when it
    did not explore, else the top ``len(chosen)`` of the pool by the means —, with probability s by a
    Thompson draw, whose chance of ranking each candidate first is estimated by Monte-Carlo:
    ``PROPENSITY_DRAWS`` fresh draws of everything an exploring request draws (the weights, each topic's and
    type's rate, each asset's quality) for the best ``PROPENSITY_POOL`` candidates, scaled by the realised
    draw's min and span, re-scored, counted. P = (1 − s)·[a mean pick] + s·(share of the draws). A policy
    without randomness gives 1.0 to its picks. Floored at s/(2·draws) so inverse-propensity weights stay
    finite (a documented bias: a pick rarer than that is logged as that rare; on a request that did not
    explore, the asset's quality counts at its posterior mean, undrawn).

    Why Monte-Carlo: the winner of a Thompson draw has no closed-form probability; the re-draws reuse the
    request's posteriors, so each costs a few small array operations, not another scoring pass."""
    random_policy = (
        strategy.exploration
        and draws.share > 0
        and (draws.rate_draws or draws.quality is not None or draws.quality_ab is not None or strategy.uncertainty)
    )
    if not random_policy or not chosen:
        return [(1.0, False)] * len(chosen)
    share = min(draws.share, 1.0)
    k, d = len(chosen), PROPENSITY_DRAWS
    pool = top_stable(score, PROPENSITY_POOL)
    pool = np.unique(np.concatenate([pool, np.asarray(chosen, dtype=np.int64)]))
    rows = idx.take(pool)
    total = np.zeros((d, pool.size))
    fixed = np.zeros(pool.size)  # the signals with neither a random value nor a random weight: summed once
    means = np.zeros(pool.size)  # the score by the posterior means and the strategy's own weights
    for name in SIGNALS:
        if name not in sig:
            continue
        mean_w = strategy.weight(name)
        sd = float(strategy.uncertainty.get(name, 0.0))
        w: float | np.ndarray = np.maximum(mean_w + sd * rng.standard_normal(d), 0.0)[:, None] if sd > 0 else mean_w
        if name in draws.rate_draws:
            a, b, at, ref = draws.rate_draws[name]
            slots = at.take(pool)
            values = rate_signal(rng.beta(a, b, size=(d, a.size)), slots, ref)
            means += mean_w * rate_signal(a / (a + b), slots, ref)
        elif name == "quality" and draws.quality_ab is not None:
            a, b, lo, span = draws.quality_ab
            values = rng.beta(a[pool], b[pool], size=(d, pool.size))
            values = (values - lo) / span if span > 1e-12 else np.full(values.shape, 0.5)
            means += mean_w * sig[name].take(pool)
        elif name == "quality" and draws.quality is not None:
            samples, lo, span = draws.quality
            picks = samples[rows[None, :], rng.integers(0, THOMPSON_POOL, size=(d, pool.size))]
            values = (picks - lo) / span if span > 1e-12 else np.full(picks.shape, 0.5)
            means += mean_w * sig[name].take(pool)
        else:
            values = sig[name].take(pool)
            means += mean_w * values
            if isinstance(w, np.ndarray):  # a fixed signal under a drawn weight
                values = values[None, :]
            else:
                fixed += w * values
                continue
        total += w * values
    total += fixed
    top = np.argsort(-total, axis=1, kind="stable")[:, :k]
    where = {int(c): j for j, c in enumerate(pool.tolist())}
    wins = np.bincount(top.ravel(), minlength=pool.size)
    if draws.explore:  # the means' top k, and every candidate tied with the k-th of them (a cold audience's)
        kth = float(means[top_stable(means, k)[-1]])
        by_means = set(np.flatnonzero(means >= kth - 1e-9).tolist())
    else:
        by_means = {where[c] for c in chosen}
    floor = share / (2 * d)
    out = []
    for c in chosen:
        j = where[c]
        p = (1.0 - share) * (j in by_means) + share * float(wins[j]) / d
        out.append((min(max(p, floor), 1.0), j not in by_means))
    return out


FRESHNESS_REBASE_S = 3600.0


def freshness(
    cat: Catalog,
    idx: np.ndarray,
    now: datetime,
    half_life_days: float,
    *,
    on_channel: tuple[ChannelBlock, np.ndarray] | None = None,
) -> np.ndarray:
    """0.5 ** (age in days / half-life), 1 for assets dated in the future, for candidate rows ``idx``.

    Per request this is one multiply: 0.5 ** ((now − created) / h) = 0.5 ** ((t₀ − created) / h) ·
    0.5 ** ((now − t₀) / h), with the first factor memoised per half-life for a reference time t₀ that
    is moved to ``now`` when it is more than an hour behind (or ahead), so the second factor stays
    near 1 and nothing overflows. Equal to the direct power up to rounding (a few ulps)."""
    t = now.timestamp()
    memo = cat.freshness_base.get(half_life_days)
    if memo is None or not 0.0 <= t - memo[0] <= FRESHNESS_REBASE_S:
        with np.errstate(over="ignore", under="ignore"):
            memo = (t, np.power(0.5, (t - cat.created) / 86400.0 / half_life_days))
        cat.freshness_base[half_life_days] = memo
    t0, base = memo
    out = _on_rows(on_channel, base, idx, copy=True)  # edited in place below
    if t != t0:
        out *= 0.5 ** ((t - t0) / 86400.0 / half_life_days)
    return np.minimum(out, 1.0, out=out)


def top_stable(score: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of ``np.argsort(-score, kind="stable")`` without sorting everything: ties keep
    the lower index, exactly as the full stable sort would."""
    if k >= score.size:
        return np.argsort(-score, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    m = score.size
    part = np.argpartition(score, m - k)
    top = part[m - k :]  # the k largest, any order; the k-th largest first
    kth = score[top[0]]
    in_top = score[top]
    if np.count_nonzero(score == kth) != np.count_nonzero(in_top == kth):
        # the k-th value also occurs outside: the stable sort keeps the lowest indices among its ties
        better = top[in_top > kth]
        top = np.concatenate([better, np.flatnonzero(score == kth)[: k - better.size]])
    return top[np.lexsort((top, -score[top]))]


def mmr(cat: Catalog, idx: np.ndarray, score: np.ndarray, n: int, lam: float) -> list[int]:
    """Maximal marginal relevance: each next pick trades score against similarity to those picked."""
    if n <= 1 or lam >= 1.0:
        return top_stable(score, n).tolist()
    pool = top_stable(score, max(n * 5, 20))
    vecs = cat.vectors[idx[pool]]
    s = score[pool]
    rel = ((s - s.min()) / (s.max() - s.min() + 1e-12)).tolist()
    # The pool is ~20 rows: plain floats beat numpy's per-call overhead, with the same IEEE arithmetic
    # (and argmax's first-maximum tie rule) as the array version.
    size = len(rel)
    penalty = [0.0] * size  # max similarity to a chosen pick (0 before the first)
    available = [True] * size
    chosen: list[int] = []
    keep = 1 - lam
    for _step in range(min(n, size)):
        best, best_value = -1, -np.inf
        for j in range(size):
            if available[j]:
                value = lam * rel[j] - keep * penalty[j]
                if value > best_value:
                    best, best_value = j, value
        if best < 0:  # only NaN values left (never with finite signals): take the first available
            best = available.index(True)
        chosen.append(int(pool[best]))
        available[best] = False
        sims = (vecs @ vecs[best]).tolist()
        if len(chosen) == 1:
            penalty = sims
        else:
            penalty = [max(p, q) for p, q in zip(penalty, sims, strict=True)]
    return chosen


def recent_rows(cat: Catalog, aud: Audience) -> tuple[list[int], np.ndarray]:
    """Catalog rows of the audience's 20 most recent positive assets and their vectors (what ``explain``
    compares a pick with), to compute once per request rather than once per pick."""
    index = cat.index
    rows = [index[a] for a, _ignored in aud.recent_positive[:20] if a in index]
    return rows, cat.vectors[rows] if rows else np.zeros((0, cat.vectors.shape[1]), dtype=cat.vectors.dtype)


def explain_features(cat: Catalog, row: int) -> list[str]:
    """The profile features an asset's tag reason may name, in the order the reason lists them (tags,
    scenes, content type), made once per asset and catalog view instead of per pick."""
    found = cat.explain_features.get(row)
    if found is None:
        doc = cat.docs[row]
        found = (
            [f"t:{t}" for t in doc.get("tags") or []]
            + [f"s:{s}" for s in doc.get("scenes") or []]
            + ([f"c:{doc['content_type']}"] if doc.get("content_type") else [])
        )
        cat.explain_features[row] = found
    return found


REASON_THRESHOLDS = {
    "collaborative": 0.3,
    "lifecycle": 0.8,
    "popularity": 0.5,
    "quality": 0.6,
    "freshness": 0.7,
    "topic": 0.4,
    "type": 0.3,
    "appeal": 0.2,
}
"""The signal value at which a signal becomes a reason for a pick: scaled signals on [0, 1]; the rate
signals (topic, type, appeal) are log lifts, so 0.4 is a rate 1.5× the reference, 0.2 one 1.22×."""
COMMON_SHARE = 0.8
"""A reason that holds for at least this share of a request's candidates says nothing about the pick."""


def common_reasons(sig: dict[str, np.ndarray]) -> frozenset[str]:
    """The signals whose reason would hold for most candidates of this request (``COMMON_SHARE``): not shown,
    since they do not tell this pick from the others ("fits the 'new' stage" on nine picks in ten)."""
    out = []
    for name, thr in REASON_THRESHOLDS.items():
        values = sig.get(name)
        if values is not None and values.size and np.count_nonzero(values > thr) >= COMMON_SHARE * values.size:
            out.append(name)
    return frozenset(out)


REASON_POPULATION_LIFT = 1.2
"""Without evidence of the audience's own, a topic or type reason names the population's rate only when it is
at least this multiple of the brand's; a higher signal than that came from an exploration draw."""


def _rate_detail(
    ab: tuple[np.ndarray, np.ndarray] | None, prior: tuple[np.ndarray, np.ndarray] | None, slot: int
) -> str | None:
    """ "you engaged with 3.0 of 4.0 delivered" from a Beta posterior slot (its prior's pseudo-counts taken
    off); without engagement of the audience's own, how the population engages with it relative to the brand
    (the prior's mean, not this request's draw); None when neither says anything for the pick."""
    if ab is None or prior is None or slot >= ab[0].size - 1:
        return None
    s = max(float(ab[0][slot] - prior[0][slot]), 0.0)
    total = s + max(float(ab[1][slot] - prior[1][slot]), 0.0)
    if s > 0:  # the audience's own engagement; "0 of 3 delivered" is no reason to send more of it
        return _("you engaged with {engaged:.1f} of {delivered:.1f} delivered").format(engaged=s, delivered=total)
    a0, b0 = prior
    lift = float(a0[slot] / (a0[slot] + b0[slot])) / float(a0[-1] / (a0[-1] + b0[-1]))
    if lift < REASON_POPULATION_LIFT:
        return None
    return _("people engage with it {lift:.1f}× as often as with the average asset").format(lift=lift)


def draw_share(propensity: float) -> str:
    """A pick's propensity as a reader's percentage: an explored pick is by definition one that rarely
    wins, and a propensity under half a percent rounded to "0%" read as "this never wins" — it says "<1%"."""
    shown = f"{propensity:.0%}"
    return shown if shown != "0%" else "<1%"


def explain(
    cat: Catalog,
    aud: Audience,
    strategy: Strategy,
    row: int,
    signals: dict[str, float],
    explored: bool,
    channel: str,
    names: dict[str, str],
    now: datetime,
    *,
    recent: tuple[list[int], np.ndarray] | None = None,
    common: frozenset[str] = frozenset(),
    propensity: float | None = None,
    exploring: bool = False,
) -> list[dict[str, Any]]:
    """Human reasons for one pick, strongest first. Each names what matched (the topic, the engaged asset,
    the tags), the weight that mattered (strategy weight × the pick's scaled signal) and exploration when
    the pick was exploration; reasons that hold for most candidates (``common``) are left out.
    ``recent``: ``recent_rows(cat, aud)`` when the caller explains several picks."""
    reasons: list[dict[str, Any]] = []

    def add(kind: str, signal: str, detail: str) -> None:
        w = strategy.weight(signal)
        reasons.append(
            {
                "kind": kind,
                "detail": _("{reason} (weight {weight:.2f} × {signal:.2f})").format(
                    reason=detail, weight=w, signal=signals.get(signal, 0.0)
                ),
                "weight": w * signals.get(signal, 0.0),
            }
        )

    if signals.get("topic", 0) > REASON_THRESHOLDS["topic"] and "topic" not in common and cat.topic_names:
        slot = int(cat.topic_of_row[row])
        detail = _rate_detail(aud.topic_ab, aud.topic_prior, slot) if slot < len(cat.topic_names) else None
        if detail:
            add("topic", "topic", _("topic「{topic}」: {detail}").format(topic=cat.topic_names[slot], detail=detail))
    if signals.get("type", 0) > REASON_THRESHOLDS["type"] and "type" not in common:
        slot = int(cat.type_of_row[row])
        detail = _rate_detail(aud.type_ab, aud.type_prior, slot) if slot < len(cat.type_names) else None
        if detail:
            label = names.get("c:" + cat.type_names[slot], cat.type_names[slot])
            add("type", "type", _("content type {type}: {detail}").format(type=label, detail=detail))
    if signals.get("appeal", 0) > REASON_THRESHOLDS["appeal"] and "appeal" not in common:
        add(
            "appeal",
            "appeal",
            _("engaged with {times:.1f}× as often as its topic's other assets on {channel}").format(
                times=math.exp(signals["appeal"]), channel=names.get("ch:" + channel, channel)
            ),
        )
    if "affinity" in signals and signals["affinity"] > 0 and aud.weights:
        weights = aud.weights
        feats = [f for f in explain_features(cat, row) if weights.get(f, 0) > 0]
        # strongest first; ``reverse`` keeps equal weights in their order, as sorting by -weight does
        feats.sort(key=weights.__getitem__, reverse=True)
        if feats:
            shown = _(", ").join(names.get(f, f[2:]) for f in feats[:3])
            add("tags", "affinity", _("matches engaged tags: {tags}").format(tags=shown))
    if "similarity" in signals and aud.recent_positive:
        rows, vecs = recent if recent is not None else recent_rows(cat, aud)
        if row in rows:  # not the pick itself
            keep = [k for k, r in enumerate(rows) if r != row]
            rows, vecs = [rows[k] for k in keep], vecs[keep]
        if rows:
            sims = vecs @ cat.vectors[row]
            k = int(sims.argmax())
            add(
                "similar",
                "similarity",
                _("resembles「{title}」engaged before (similarity {similarity:.2f})").format(
                    title=cat.docs[rows[k]]["title"], similarity=float(sims[k])
                ),
            )
    channel_name = names.get("ch:" + channel, channel)
    for kind, signal, detail in (
        ("collaborative", "collaborative", _("people who engaged with the same assets engaged with this")),
        (
            "lifecycle",
            "lifecycle",
            _("fits the group's purpose '{purpose}'").format(purpose=code_label("group_purpose", aud.purpose))
            if aud.purpose
            else _("fits the {stage} lifecycle stage").format(stage=names.get(f"st:{aud.stage}", aud.stage)),
        ),
        ("popular", "popularity", _("among the most engaged on {channel}").format(channel=channel_name)),
        ("quality", "quality", _("high engagement per delivery on {channel}").format(channel=channel_name)),
    ):
        if (
            signals.get(signal, 0) > REASON_THRESHOLDS[signal]
            and signal not in common
            and (signal != "lifecycle" or aud.stage or aud.purpose)
        ):
            add(kind, signal, detail)
    if signals.get("freshness", 0) > REASON_THRESHOLDS["freshness"] and "freshness" not in common:
        age_days = (now.timestamp() - cat.created[row]) / 86400.0
        add("fresh", "freshness", _("new: added {days:.0f} days ago").format(days=max(age_days, 0)))
    if explored and not exploring:
        add("exploration", "quality", _("exploring: few deliveries so far, its true rate may be higher"))
    reasons.sort(key=lambda r: -r["weight"])
    if exploring and propensity is not None:  # first: it is why this pick was made
        reasons.insert(
            0,
            {
                "kind": "exploration",
                "detail": _(
                    "exploring: this pick wins in {share} of the policy's draws — trying it teaches the "
                    "recommender about you and about it"
                ).format(share=draw_share(propensity)),
                "weight": 0.0,
            },
        )
    if aud.vector is None and not aud.weights and not aud.has_evidence():
        reasons.insert(
            0,
            {
                "kind": "cold_start",
                "detail": _("no engagement history yet: popular on this channel while we learn your interests"),
                "weight": 0.0,
            },
        )
    return reasons
