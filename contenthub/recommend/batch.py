"""Next content for many users at once: the production blend, vectorised over blocks of users.

``service.next_for_user`` ranks one user per call — right for bots, far too slow for "every member of a
segment, tonight" (1M users × a few ms). Here the same profile facts and the same signals as
``ranking.score_candidates`` are computed for a block of users with array operations:

- the user's events are read once, as columns (no JSON), for a whole chunk of users;
- similarity is one matrix product of user vectors with the channel's asset vectors; tag affinity is
  (decayed event weights × asset features) × featuresᵀ; the collaborative signal sums EASE rows;
- the shared signals (quality, popularity, freshness, lifecycle fit) are vectors per channel/stage;
- every signal is min-max scaled over each user's own candidates (channel, scene, validity, minus the
  user's muted and recently delivered assets), exactly as for one request; caps and unsubscribes
  give a user no picks.

Two documented differences from ``next_for_user``: tag weights come from the events with the assets'
*current* features (the profile counters froze the features at event time, so an asset retagged
since then, or no longer approved, weighs differently), and Thompson sampling draws one posterior
sample per block of users instead of one per user. With exploration off and unchanged assets, the
picks are the same (tests/test_recommend_batch.py checks this).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from scipy import sparse

from contenthub.hub import Hub
from contenthub.recommend import caps, lifecycle, users
from contenthub.recommend.catalog import Catalog, catalog
from contenthub.recommend.engagement import ENGAGED, EVENT_WEIGHTS, NEGATIVE, POSITIVE
from contenthub.recommend.profiles import HISTORY_DAYS, HISTORY_LIMIT, VECTOR_EVENTS
from contenthub.recommend.ranking import candidate_mask, quality_posterior
from contenthub.recommend.strategies import Strategy, get_strategy
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, utcnow

BLOCK = 128        # users scored together: block × candidates float32 stays in cache
CHUNK = 20000      # users whose events are read in one go
NEGATIVE_LIMIT = 500
TYPES = tuple(EVENT_WEIGHTS)
TYPE_CODE = {t: i for i, t in enumerate(TYPES)}
_W = np.array([EVENT_WEIGHTS[t] for t in TYPES])
_POS = np.array([t in POSITIVE for t in TYPES])
_NEG = np.array([t in NEGATIVE for t in TYPES])
_ENG = np.array([t in ENGAGED for t in TYPES])
_BLOCKING = np.array([t in ("mute", "delete") for t in TYPES])
_DELIVERY = np.array([t in ("delivered", "served") for t in TYPES])
STAGES = ("new", "active", "stable", "silent", "churned")


@dataclass
class BatchPicks:
    """Picks for one chunk of users: catalog rows (−1: none) and blended scores, best first."""

    user_ids: list[str]
    rows: np.ndarray     # (users, n) int64
    scores: np.ndarray   # (users, n) float64
    capped: np.ndarray   # (users,) bool: capped or unsubscribed on the channel
    stages: list[str]

    def asset_ids(self, cat: Catalog) -> list[list[str]]:
        return [[cat.ids[r] for r in row if r >= 0] for row in self.rows.tolist()]


@dataclass
class _Events:
    """One chunk's events as columns, sorted by (user, newest first)."""

    user: np.ndarray     # position of the user in the chunk
    type: np.ndarray     # index into TYPES
    row: np.ndarray      # catalog row, −1 when the asset is not in the view (or none)
    no_asset: np.ndarray # the event names no asset (a channel-wide mute)
    channel: np.ndarray  # 1 when on the requested channel
    ts: np.ndarray       # epoch seconds
    value: np.ndarray


def _read_events(hub: Hub, cat: Catalog, user_ids: Sequence[str], channel: str) -> _Events:
    fast = getattr(hub.store, "event_columns", None)
    if fast is not None:
        cols = fast(list(user_ids))
        uid, etype, aid, ch, ts, val = cols["user_id"], cols["type"], cols["asset_id"], cols["channel"], cols["ts"], cols["value"]
        ts_arr = np.asarray(ts, dtype=np.float64)
    else:  # any Store: one grouped read per chunk (identical events collapse into one row with a count)
        grouped = hub.store.event_counts(("user_id", "type", "asset_id", "channel", "ts"), EventQuery(user_ids=tuple(user_ids)))
        uid, etype, aid, ch, tss, val = [], [], [], [], [], []
        for (u, t, a, c, when), count, total in grouped:
            for _ in range(count):
                uid.append(u), etype.append(t), aid.append(a), ch.append(c), tss.append(when), val.append(total / count)
        ts_arr = np.array([from_iso(t).timestamp() for t in tss], dtype=np.float64)
    pos = {u: i for i, u in enumerate(user_ids)}
    user = np.fromiter((pos[u] for u in uid), dtype=np.int64, count=len(uid))
    typ = np.fromiter((TYPE_CODE.get(t, 0) for t in etype), dtype=np.int64, count=len(etype))
    index = cat.index
    row = np.fromiter((index.get(a, -1) if a else -1 for a in aid), dtype=np.int64, count=len(aid))
    chan = np.fromiter((c == channel for c in ch), dtype=bool, count=len(ch))
    value = np.array([v or 0.0 for v in val], dtype=np.float64)
    no_asset = np.fromiter((not a for a in aid), dtype=bool, count=len(aid))
    order = np.lexsort((-ts_arr, user))
    return _Events(user[order], typ[order], row[order], no_asset[order], chan[order], ts_arr[order], value[order])


def _rank_in_group(user: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """For rows where ``keep``, their 0-based position among the kept rows of the same user (rows are
    grouped by user); −1 elsewhere."""
    out = np.full(user.size, -1, dtype=np.int64)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return out
    u = user[idx]
    starts = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, u.size]))
    out[idx] = np.arange(idx.size) - first
    return out


def _groups_any(user: np.ndarray, flag: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(user[flag], minlength=n) > 0


class _Facts:
    """Per-user profile facts for one chunk, mirroring profiles.load_profile / audience_for."""

    def __init__(self, hub: Hub, cat: Catalog, ev: _Events, user_ids: Sequence[str], docs: list[dict[str, Any] | None],
                 channel: str, now: datetime) -> None:
        n = len(user_ids)
        t_now = now.timestamp()
        half = hub.settings.profile_half_life_days
        decay = np.exp2((ev.ts - t_now) / 86400.0 / half)  # == decay_scale(ts) / decay_scale(now)
        # history: the newest HISTORY_LIMIT events of the last HISTORY_DAYS (load_profile's query)
        in_window = ev.ts >= t_now - HISTORY_DAYS * 86400.0
        hist = _rank_in_group(ev.user, in_window)
        hist = (hist >= 0) & (hist < HISTORY_LIMIT)
        # recent positives: in history order, until VECTOR_EVENTS distinct catalog assets (audience_for)
        pos_ev = hist & _POS[ev.type] & (ev.row >= 0)
        pidx = np.flatnonzero(pos_ev)
        key = ev.user[pidx] * (len(cat) + 1) + ev.row[pidx]
        _, first_at = np.unique(key, return_index=True)
        is_first = np.zeros(pidx.size, dtype=bool)
        is_first[first_at] = True
        u = ev.user[pidx]
        starts = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1] if pidx.size else np.zeros(0, dtype=np.int64)
        cum = np.cumsum(is_first)
        base = np.repeat(np.r_[0, cum][starts], np.diff(np.r_[starts, pidx.size])) if pidx.size else cum
        distinct_before = cum - is_first - base
        take = pidx[distinct_before < VECTOR_EVENTS]
        w = _W[ev.type[take]] * decay[take]
        self.recent = sparse.csr_matrix((w, (ev.user[take], ev.row[take])), shape=(n, len(cat)))
        self.recent.sum_duplicates()
        # tag-affinity weights: every weighted event, decayed (what the profile counters add up)
        weighted = (_W[ev.type] != 0) & (ev.row >= 0)
        e = sparse.csr_matrix((_W[ev.type[weighted]] * decay[weighted], (ev.user[weighted], ev.row[weighted])),
                              shape=(n, len(cat)))
        feats = (e @ cat.features).tocsr()
        feats.data[np.abs(feats.data) <= 1e-6] = 0.0
        feats.eliminate_zeros()
        self.features = feats
        # exclusions: muted/deleted assets among the newest NEGATIVE_LIMIT negative events, and
        # assets delivered or served on this channel within the redelivery window (from history)
        neg_rank = _rank_in_group(ev.user, _NEG[ev.type])
        negs = (neg_rank >= 0) & (neg_rank < NEGATIVE_LIMIT)
        block = negs & _BLOCKING[ev.type] & (ev.row >= 0)
        window = t_now - hub.settings.redelivery_window_days * 86400.0
        redeliver = hist & _DELIVERY[ev.type] & ev.channel & (ev.row >= 0) & (ev.ts >= window)
        ex = block | redeliver
        self.exclude = sparse.csr_matrix((np.ones(int(ex.sum()), dtype=bool), (ev.user[ex], ev.row[ex])),
                                         shape=(n, len(cat)))
        self.exclude.sum_duplicates()
        # unsubscribed from this channel: an unsubscribe on it, or a mute of the channel (no asset)
        unsub = negs & ev.channel & ((ev.type == TYPE_CODE["unsubscribe"]) | ((ev.type == TYPE_CODE["mute"]) & ev.no_asset))
        self.unsubscribed = _groups_any(ev.user, unsub, n)
        # caps from deliveries on this channel in history
        self.capped = self.unsubscribed | self._capped(hub, ev, hist, channel, now, n)
        # lifecycle stage
        self.stage = self._stages(hub, ev, hist, docs, now, n)

    @staticmethod
    def _capped(hub: Hub, ev: _Events, hist: np.ndarray, channel: str, now: datetime, n: int) -> np.ndarray:
        rule = caps.get_rule(hub, channel)
        tz = ZoneInfo(hub.settings.timezone)
        local = now.astimezone(tz)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        week = day - timedelta(days=local.weekday())
        month = day.replace(day=1)
        delivered = hist & ev.channel & (ev.type == TYPE_CODE["delivered"])
        out = np.zeros(n, dtype=bool)
        for limit, start in ((rule.per_day, day), (rule.per_week, week), (rule.month_limit(local), month)):
            if limit is None:
                continue
            used = np.bincount(ev.user[delivered & (ev.ts >= start.timestamp())], minlength=n)
            out |= used >= limit
        return out

    @staticmethod
    def _stages(hub: Hub, ev: _Events, hist: np.ndarray, docs: list[dict[str, Any] | None], now: datetime,
                n: int) -> np.ndarray:
        """lifecycle.classify for every user at once (stage only)."""
        rules = lifecycle.get_rules(hub)
        t_now = now.timestamp()
        engaged = hist & _ENG[ev.type]
        last = np.full(n, -np.inf)
        np.maximum.at(last, ev.user[engaged], ev.ts[engaged])
        has_engaged = np.isfinite(last)
        days_since = np.where(has_engaged, (t_now - last) / 86400.0, np.nan)
        first_seen = np.array([from_iso(d["created_at"]).timestamp() if d and d.get("created_at") else np.nan
                               for d in docs])
        age = np.where(np.isnan(first_seen), 0.0, (t_now - first_seen) / 86400.0)
        recent90 = engaged & (np.floor((t_now - ev.ts) / 86400.0) <= 90)
        day_key = np.unique(ev.user[recent90] * 1_000_000 + np.floor(ev.ts[recent90] / 86400.0).astype(np.int64))
        engaged_days = np.bincount(day_key // 1_000_000, minlength=n)
        orders = _groups_any(ev.user, hist & (ev.type == TYPE_CODE["convert"]), n)
        unsub = _groups_any(ev.user, hist & (ev.type == TYPE_CODE["unsubscribe"]), n)
        with np.errstate(invalid="ignore"):
            churned = unsub | (has_engaged & (days_since > rules.churned_days)) | (~has_engaged & (age > rules.churned_days))
            silent = ~has_engaged | (days_since > rules.silent_days)
            stable = (days_since <= rules.active_days) & (engaged_days >= rules.stable_min_engaged_days) & orders
        return np.select([churned, age <= rules.new_days, silent, stable], [4, 0, 3, 2], default=1)


def _shared(cat: Catalog, strategy: Strategy, channel: str, idx: np.ndarray, now: datetime,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Raw user-independent signals over the candidate rows (before per-user scaling)."""
    out: dict[str, np.ndarray] = {}
    if strategy.weight("quality"):
        a, b = quality_posterior(cat, channel, idx)
        out["quality"] = rng.beta(a, b) if strategy.exploration else a / (a + b)
    if strategy.weight("popularity"):
        log_pop = cat.log_popularity.get(channel)
        if log_pop is None:
            log_pop = cat.log_popularity.get("*")
        if log_pop is not None:
            out["popularity"] = log_pop[idx]
    return out


def _stage_fit(hub: Hub, cat: Catalog, strategy: Strategy, idx: np.ndarray, now: datetime) -> np.ndarray:
    """Fixed (unscaled) per-stage part: freshness plus lifecycle fit, as rows indexed by stage code."""
    rules = lifecycle.get_rules(hub)
    base = np.zeros(idx.size)
    if strategy.weight("freshness"):
        age_days = np.maximum(0.0, (now.timestamp() - cat.created[idx]) / 86400.0)
        base = base + strategy.weight("freshness") * np.power(0.5, age_days / strategy.freshness_half_life_days)
    rows = []
    for stage in STAGES:
        fit = cat.lifecycle_fit(stage, tuple(rules.stage_scenes.get(stage, [])))[idx]
        rows.append(base + (strategy.weight("lifecycle") * fit if strategy.weight("lifecycle") else 0.0))
    return np.array(rows)


def _scaled_add(score: np.ndarray, raw: np.ndarray, weight: float, *, has: np.ndarray | None = None) -> None:
    """score += weight · minmax(raw) per row, min/max over non-NaN entries (NaN marks exclusions);
    rows with a flat signal get _minmax's constant (0 or 0.5); rows where ``has`` is False get nothing."""
    lo = np.fmin.reduce(raw, axis=1)
    hi = np.fmax.reduce(raw, axis=1)
    span = hi - lo
    flat = span < 1e-12
    scale = np.where(flat, 0.0, weight / np.where(flat, 1.0, span))
    offset = np.where(flat, np.where(hi <= 0, 0.0, 0.5 * weight), -lo * scale)
    if has is not None:
        scale = np.where(has, scale, 0.0)
        offset = np.where(has, offset, 0.0)
    score += raw * scale[:, None].astype(score.dtype)
    score += offset[:, None].astype(score.dtype)


def _minmax_rows(values: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """ranking._minmax of ``values`` for each row's own (lo, hi): flat rows give 0 (hi ≤ 0) or 0.5."""
    lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))[:, None]
    hi = np.atleast_1d(np.asarray(hi, dtype=np.float64))[:, None]
    span = hi - lo
    flat = span < 1e-12
    scaled = (values - lo) / np.where(flat, 1.0, span)
    return np.where(flat, np.where(hi <= 0, 0.0, 0.5), scaled)


def _shared_minmax(values: np.ndarray, excl_rows: np.ndarray, excl_cols: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user min and max of a shared vector over the candidates minus each user's exclusions."""
    order = np.argsort(values, kind="stable")
    out = []
    for seq in (order, order[::-1]):
        per_user = np.bincount(excl_rows, minlength=n_users)
        depth = int(per_user.max(initial=0)) + 1
        top = seq[:depth]
        excluded = np.zeros((n_users, depth), dtype=bool)
        if excl_rows.size:
            where = {int(c): k for k, c in enumerate(top.tolist())}
            hit = np.fromiter((where.get(int(c), -1) for c in excl_cols), dtype=np.int64, count=excl_cols.size)
            ok = hit >= 0
            excluded[excl_rows[ok], hit[ok]] = True
        first = np.argmax(~excluded, axis=1)
        out.append(values[top[np.minimum(first, top.size - 1)]])
    return out[0], out[1]


def next_for_users(
    hub: Hub, user_ids: Sequence[str], channel: str, *, scene: str | None = None, n: int = 1,
    strategy: str = "default", now: datetime | None = None, seed: int | None = None, chunk: int = CHUNK,
    block: int = BLOCK,
) -> Iterator[BatchPicks]:
    """Top ``n`` assets per user on ``channel`` (no MMR: the batch picks by score), chunk by chunk."""
    now = now or utcnow()
    strat = get_strategy(hub, strategy)
    cat = catalog(hub)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(candidate_mask(cat, channel, scene, now, set()))
    col_of = np.full(len(cat), -1, dtype=np.int64)
    col_of[idx] = np.arange(idx.size)
    vec_c = cat.vectors[idx]
    feat_c = np.ascontiguousarray(cat.features[idx].T.toarray(), dtype=np.float32)  # features × candidates
    model = cat.engagement
    use_model = model is not None and cat.model_rows is not None and bool(model.asset_ids) and strat.weight("collaborative")
    if use_model:
        in_c = cat.model_rows >= 0
        model_cols = np.where(in_c, col_of[np.maximum(cat.model_rows, 0)], -1)
        keep = model_cols >= 0
        weights_c = np.zeros((len(model.asset_ids), idx.size), dtype=np.float32)
        weights_c[:, model_cols[keep]] = model.weights[:, keep]
        row_to_model = np.full(len(cat), -1, dtype=np.int64)
        row_to_model[cat.model_rows[in_c]] = np.flatnonzero(in_c)
    fixed = _stage_fit(hub, cat, strat, idx, now)
    w_sim, w_aff, w_col = strat.weight("similarity"), strat.weight("affinity"), strat.weight("collaborative")
    for start in range(0, len(user_ids), chunk):
        part = list(user_ids[start:start + chunk])
        docs = _user_docs(hub, part)
        canon = [d["id"] if d else u for d, u in zip(docs, part, strict=True)]  # merged ids → their user
        ev = _read_events(hub, cat, canon, channel)
        facts = _Facts(hub, cat, ev, canon, docs, channel, now)
        m = len(part)
        if use_model:
            mrows = np.fromiter((model.user_rows.get(u, -1) for u in canon), dtype=np.int64, count=m)
            model_hist = (sparse.diags((mrows >= 0).astype(np.float32)) @ model.history[np.maximum(mrows, 0)]).tocsr()
            model_hist.eliminate_zeros()
        rows_out = np.full((m, n), -1, dtype=np.int64)
        scores_out = np.full((m, n), -np.inf)
        shared: dict[str, np.ndarray] | None = None
        for b0 in range(0, m, block):
            b1 = min(m, b0 + block)
            bsz = b1 - b0
            ex = facts.exclude[b0:b1]
            ex_coo = ex.tocoo()
            ex_cols = col_of[ex_coo.col]
            ok = ex_cols >= 0
            ex_r, ex_c = ex_coo.row[ok], ex_cols[ok]
            score = fixed[facts.stage[b0:b1]].astype(np.float32)
            if shared is None or strat.exploration:  # Thompson draws: one per block of users
                shared = _shared(cat, strat, channel, idx, now, rng)
                shared_base = sum((strat.weight(k) * _minmax_rows(v[None, :], v.min(), v.max())[0]
                                   for k, v in shared.items()), np.zeros(idx.size))
            score += shared_base.astype(np.float32)
            for name, values in shared.items():
                # a user's exclusions may remove the channel-wide min or max: rescale just those rows
                lo, hi = _shared_minmax(values, ex_r, ex_c, bsz)
                moved = np.flatnonzero((lo != values.min()) | (hi != values.max()))
                if moved.size:
                    w = strat.weight(name)
                    score[moved] += (w * (_minmax_rows(values[None, :], lo[moved], hi[moved])
                                          - _minmax_rows(values[None, :], values.min(), values.max()))).astype(np.float32)
            recent = facts.recent[b0:b1]
            if w_sim:
                uvec = np.asarray(recent @ cat.vectors, dtype=np.float32)
                norms = np.linalg.norm(uvec, axis=1)
                has = norms > 0
                raw = uvec @ vec_c.T
                raw[ex_r, ex_c] = np.nan
                _scaled_add(score, raw, w_sim, has=has)
            if w_aff:
                fb = facts.features[b0:b1]
                has = np.diff(fb.indptr) > 0
                raw = fb.toarray().astype(np.float32) @ feat_c
                raw[ex_r, ex_c] = np.nan
                _scaled_add(score, np.maximum(raw, 0, where=~np.isnan(raw), out=np.full_like(raw, np.nan)), w_aff, has=has)
                _scaled_add(score, np.maximum(-raw, 0, where=~np.isnan(raw), out=np.full_like(raw, np.nan)),
                            -0.5 * w_aff, has=has)
            if use_model:
                rec = recent.tocoo()
                mpos = row_to_model[rec.col]
                okm = (mpos >= 0) & (rec.data > 0)
                eng = model_hist[b0:b1].tocsr() + sparse.csr_matrix(
                    (np.ones(int(okm.sum()), dtype=np.float32), (rec.row[okm], mpos[okm])), shape=(bsz, len(model.asset_ids)))
                eng.eliminate_zeros()
                eng.data[:] = 1.0
                has = np.diff(eng.indptr) > 0
                raw = np.asarray(eng @ weights_c, dtype=np.float32)
                raw[ex_r, ex_c] = np.nan
                _scaled_add(score, raw, w_col, has=has)
            score[ex_r, ex_c] = -np.inf
            score[facts.capped[b0:b1]] = -np.inf
            if n == 1:
                best = np.argmax(score, axis=1)[:, None]
            else:
                part_idx = np.argpartition(-score, min(n, idx.size) - 1, axis=1)[:, :n]
                order = np.argsort(-np.take_along_axis(score, part_idx, 1), axis=1, kind="stable")
                best = np.take_along_axis(part_idx, order, 1)
            got = np.take_along_axis(score, best, 1)
            valid = np.isfinite(got)
            rows_out[b0:b1] = np.where(valid, idx[best], -1)
            scores_out[b0:b1] = np.where(valid, got, -np.inf)
        yield BatchPicks(user_ids=part, rows=rows_out, scores=scores_out, capped=facts.capped.copy(),
                         stages=[STAGES[s] for s in facts.stage.tolist()])


def _user_docs(hub: Hub, user_ids: list[str]) -> list[dict[str, Any] | None]:
    """User documents in one read per chunk; merged ids are followed like users.find_user does."""
    found = hub.store.get_docs(users.USERS, user_ids)
    out = []
    for u in user_ids:
        d = found.get(u)
        out.append(users.find_user(hub, u) if d is not None and d.get("merged_into") else d)
    return out
