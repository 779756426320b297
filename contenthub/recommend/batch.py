"""Next content for many users at once: the production blend, vectorised over blocks of users.

``service.next_for_user`` ranks one user per call — right for bots, far too slow for "every member of a
segment, tonight" (1M users × a few ms). Here the same profile facts and the same signals as
``ranking.score_candidates`` are computed for a block of users with array operations:

- events are read as numpy columns (``Store.event_columns``): in one sequential scan of the event log,
  part by part, when a large share of the users is asked for (random look-ups by user cost a page read
  per event), else per chunk of users;
- the raw similarity, affinity and collaborative values of a block are ``raw_signals.raw_values`` — the
  function one request calls with a block of one —, over dense asset × candidate matrices built once per
  call (lazily, only the rows someone refers to): vectors · candidate vectorsᵀ (the user vector is a
  weighted sum of engaged asset vectors, and min-max scaling ignores its norm) and the EASE rows
  restricted to the candidate columns — a few row additions per user instead of a 384-wide product per
  candidate; tag affinity is the candidates' sparse features times the block's tag weights (decayed
  event weights × asset features);
- the shared signals (quality, popularity, freshness, lifecycle fit) are vectors per channel/stage;
- every signal is min-max scaled over each user's own candidates (channel, scene, validity, minus the
  user's muted and recently delivered assets), exactly as for one request; the per-user constants
  of the scaling are kept aside (they do not move the argmax) and added to the picked scores only;
  caps and unsubscribes give a user no picks and cost no scoring;
- chunks of users are scored on a thread pool, each thread taking a chunk from its events to its picks
  (numpy, scipy and SQLite release the GIL), so every core works; with a scan, the log's ranges are
  read and the matrices built on the pool while the user documents are read.

The rules and the signals are not copies: caps (``caps.counted_sends``, ``caps.capped_targets``), the
lifecycle stage (``lifecycle.stages_of``), the topic and content-type rate signals (``scoring``), the
scaling of every signal (``ranking.minmax_coefficients``, ``ranking.signed_coefficients``: one request is
their one-row case), the raw similarity, affinity and collaborative values (``raw_signals.raw_values``), the
exclusions (``exclusions``: mutes, unsubscribes, the re-delivery window), the quality and popularity values
(``ranking.quality_values``, ``ranking.popularity_values``), freshness, lifecycle fit and appeal are the
functions the per-user path calls, here over arrays of users. What batch adds is how exclusions are applied
to a block (masked cells instead of fewer candidates).

Two documented differences from ``next_for_user``: tag weights and the topic/type rate evidence come
from the events with the assets' *current* features and topics (the profile counters froze them at
event time, so an asset retagged since then, or no longer approved, weighs differently), and an exploring user's Thompson
draw of the quality posterior (one pooled sample per candidate, as a request takes) is shared by
DRAW_USERS (256) exploring users instead of one per user. Whether a user explores is the per-user rule
(``ranking.exploring_share`` from the user's own rate evidence, ``ranking.explores``), and so are an
exploring user's drawn topic/type rates and weights (``ranking.drawn_weights``); the others rank by the
posterior means. With exploration off and unchanged assets, the picks are the same, and a user the batch
does not explore for gets the per-user path's pick without exploration (tests/test_recommend_batch.py).
Unless asked to reserve (``pick_lines(reserve=True)``), the batch logs nothing; reserving logs each user's
pick as a request's reserved pick is logged — its propensity under the same exploration mixture, the served
record (``service.reserve_batch_block``, a block of users at a time).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
from scipy import sparse

from contenthub import bad_records
from contenthub.audience import caps, exclusions, lifecycle, users
from contenthub.audience.engagement import BLOCKING_TYPES, ENGAGED, EVENT_WEIGHTS, NEGATIVE, POSITIVE, RATE_WEIGHTS
from contenthub.audience.profiles import HISTORY_DAYS, HISTORY_LIMIT, NEGATIVES_LIMIT, VECTOR_EVENTS
from contenthub.hub import Hub
from contenthub.recommend.audiences import population_rates
from contenthub.recommend.catalog import Catalog, catalog
from contenthub.recommend.ranking import (
    appeal_posterior,
    candidate_mask,
    drawn_weights,
    explores,
    exploring_share,
    freshness,
    minmax_coefficients,
    popularity_values,
    posterior,
    posterior_samples,
    quality_values,
    signed_coefficients,
)
from contenthub.recommend.raw_signals import Audiences, Columns, Rows, model_columns, raw_values
from contenthub.recommend.scoring import (
    RATE_PRIOR_DELIVERIES,
    rate_draw,
    rate_posterior_rows,
    rate_signal,
    redelivery_cutoff,
    with_strength,
)
from contenthub.recommend.service import BatchAsk, reserve_batch_block
from contenthub.recommend.strategies import Strategy, get_strategy
from contenthub.store.columns import EventColumns
from contenthub.timeutil import epochs, from_iso, to_iso, utcnow

BLOCK = 64  # users scored together: a few block × candidates float32 arrays stay in L2
CHUNK = 4096  # users whose facts are derived and scored together by one thread (one BatchPicks each)
SCAN_SHARE = 0.1  # scan the whole event log when at least this share of all users is asked for
DRAW_USERS = 256  # users (whole blocks) sharing one Thompson draw of the quality posterior
TYPES = tuple(EVENT_WEIGHTS)
TYPE_CODE = {t: i for i, t in enumerate(TYPES)}
_W = np.array([EVENT_WEIGHTS[t] for t in TYPES])
_RW = np.array([RATE_WEIGHTS[t] for t in TYPES])  # what each type adds to a rate's engagement (``g:``)
_POS = np.array([t in POSITIVE for t in TYPES])
_NEG = np.array([t in NEGATIVE for t in TYPES])
_ENG = np.array([t in ENGAGED for t in TYPES])
_BLOCKING = np.array([t in BLOCKING_TYPES for t in TYPES])
_SENT = np.array([t in exclusions.SENT_TYPES for t in TYPES])
STAGES = lifecycle.STAGES


@dataclass
class BatchPicks:
    """Picks for one chunk of users: catalog rows (−1: none) and blended scores, best first."""

    user_ids: list[str]
    rows: np.ndarray  # (users, n) int64
    scores: np.ndarray  # (users, n) float64
    capped: np.ndarray  # (users,) bool: capped or unsubscribed on the channel
    stages: list[str]
    explored: np.ndarray  # (users,) bool: ranked by a Thompson draw (``ranking.explores``), not by the means

    def asset_ids(self, cat: Catalog) -> list[list[str]]:
        return [[cat.ids[r] for r in row if r >= 0] for row in self.rows.tolist()]


@dataclass
class _Events:
    """One chunk's events as columns, sorted by (user, newest first)."""

    user: np.ndarray  # position of the user in the chunk
    type: np.ndarray  # index into TYPES
    row: np.ndarray  # catalog row, −1 when the asset is not in the view (or none)
    no_asset: np.ndarray  # the event names no asset (a channel-wide mute)
    channel: np.ndarray  # True when on the requested channel
    ts: np.ndarray  # epoch seconds
    reserved: np.ndarray  # a served event that reserved a send (counts against caps until delivered)
    rec: np.ndarray  # hash of the recommendation id (0: none), to tell a confirmed reservation


# --- reading ---------------------------------------------------------------------------------------


def _user_facts(hub: Hub, user_ids: Sequence[str], *, every_user: bool) -> tuple[list[str], np.ndarray]:
    """(canonical id, first seen as epoch seconds or NaN) per user: merged ids are followed like
    users.find_user does; unknown ids stay as they are. ``every_user``: read all user documents in one
    pass (most users are asked for), else one read per 20k users."""
    if every_user:
        return _follow_merges(
            hub.store.doc_field_columns(users.USERS, (*users.FIRST_SEEN_FIELDS, users.MERGED_INTO)), user_ids
        )
    canon = []
    first_seen = np.full(len(user_ids), np.nan)
    for start in range(0, len(user_ids), CHUNK):
        part = list(user_ids[start : start + CHUNK])
        found = users.find_users(hub, part)
        for k, u in enumerate(part):
            d = found.get(u)
            canon.append(d["id"] if d else u)
            if d and (seen := bad_records.stamp_or_none(hub, "user", d["id"], "created_at", users.first_seen(d))):
                first_seen[start + k] = from_iso(seen).timestamp()
    return canon, first_seen


def _follow_merges(docs: dict[str, list[str]], user_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """_user_facts over every user document at once: array look-ups for all, a loop only for the few
    users whose document was merged into another (most batches have none)."""
    ids, merged = docs["id"], docs[users.MERGED_INTO]
    at = dict(zip(ids, range(len(ids)), strict=True))
    pos = np.fromiter(map(at.get, user_ids, repeat(-1)), dtype=np.int64, count=len(user_ids))
    is_merged = np.fromiter(map(bool, merged), dtype=bool, count=len(merged))
    for k in np.flatnonzero(is_merged[pos] & (pos >= 0)).tolist():
        i, hops = int(pos[k]), 0
        while merged[i] and hops < 10:
            nxt = at.get(merged[i])
            if nxt is None:
                break
            i, hops = nxt, hops + 1
        pos[k] = i
    canon = list(map(ids.__getitem__, pos.tolist()))
    for k in np.flatnonzero(pos < 0).tolist():
        canon[k] = user_ids[k]  # unknown ids stay as they are
    # users.first_seen over columns: the earliest of its fields (fmin skips a field a user lacks)
    created = np.fmin.reduce([epochs(docs[f]) for f in users.FIRST_SEEN_FIELDS])
    return canon, np.where(pos >= 0, created[pos], np.nan)


def _by_key_newest_first(key: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``np.lexsort((-ts, key))`` (equal stamps keep their order) as one sort of an int64 composite —
    key, then the stamp's rank — which is ~30% faster than lexsort's two merge sorts."""
    n = key.size
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-ts, kind="stable")] = np.arange(n)
    return np.argsort(key.astype(np.int64) * n + rank)


def _group_by_key(key: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable ``np.argsort(key)`` for keys in [0, n_keys) as radix passes over 16-bit digits (numpy
    radix-sorts 16-bit integers): ~40 ms for a million events where a comparison sort takes ~200 ms,
    and this runs on the critical path, before any chunk can start."""
    order = np.arange(key.size)
    shift = 0
    while shift == 0 or (n_keys - 1) >> shift:
        digit = ((key[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


class _EventLog:
    """Events of the requested users as columns keyed by the user's index in ``keys`` (unique
    canonical ids), grouped by user in scan order; ``take`` cuts out one chunk's users, newest first.
    The newest-first order is made per chunk, on the chunk's thread: one sort of the whole log (~0.3 s
    for a million events) held every chunk back, while a chunk's share runs beside other chunks."""

    def __init__(self) -> None:
        self.key = self.type = self.row = self.ts = self.rec = np.zeros(0, dtype=np.int64)
        self.no_asset = self.channel = self.reserved = np.zeros(0, dtype=bool)
        self.offsets = np.zeros(1, dtype=np.int64)

    @classmethod
    def build(cls, parts: list[tuple[np.ndarray, ...]], n_keys: int) -> _EventLog:
        log = cls()
        if parts:
            key, typ, row, no_asset, chan, ts, reserved, rec = (np.concatenate(c) for c in zip(*parts, strict=True))
            order = _group_by_key(key, n_keys)
            log.key, log.type, log.row = key[order], typ[order], row[order]
            log.no_asset, log.channel, log.ts = no_asset[order], chan[order], ts[order]
            log.reserved, log.rec = reserved[order], rec[order]
        log.offsets = np.searchsorted(log.key, np.arange(n_keys + 1))
        return log

    def take(self, keys: np.ndarray) -> _Events:
        """The events of ``keys`` (one chunk's users, repeats allowed), as (position in ``keys``, newest
        first; equal stamps in scan order) — the order ``_by_key_newest_first`` gives the whole log."""
        starts = self.offsets[keys]
        counts = self.offsets[keys + 1] - starts
        total = int(counts.sum())
        at = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
        user = np.repeat(np.arange(keys.size), counts)
        ts = self.ts[at].astype(np.float64)
        order = _by_key_newest_first(user, ts)
        at = at[order]
        return _Events(
            user[order],
            self.type[at],
            self.row[at],
            self.no_asset[at],
            self.channel[at],
            ts[order],
            self.reserved[at],
            self.rec[at],
        )


def _to_columns(cols: EventColumns, pos: dict[str, int], row_of: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Store columns → (key, type, row, no_asset, channel, ts, reserved, rec) arrays of the users in
    ``pos``, other users' events dropped. ``row_of``: catalog row by asset id, with '' (no asset) → −2,
    so one look-up gives both columns. Events of a type batch does not know are dropped."""
    uid, typ = cols["user_id"], cols["type"]
    m = len(uid)
    key = np.fromiter(map(pos.get, uid, repeat(-1)), dtype=np.int64, count=m)
    row = np.fromiter(map(row_of.get, cols["asset_id"], repeat(-1)), dtype=np.int32, count=m)
    # hash('') is 0: "no recommendation id"
    rec = np.fromiter(map(hash, cols["recommendation_id"]), dtype=np.int64, count=m)
    keep = (key >= 0) & (typ >= 0)
    row, no_asset = row[keep], row[keep] == -2
    row[no_asset] = -1
    return (
        key[keep],
        typ[keep],
        row,
        no_asset,
        cols["on_channel"][keep],
        cols["ts"][keep],
        cols["reserved"][keep],
        rec[keep],
    )


def _read_log(hub: Hub, cat: Catalog, keys: list[str], channel: str) -> _EventLog:
    """Events of the users ``keys`` (unique canonical ids), looked up by user."""
    pos = {u: i for i, u in enumerate(keys)}
    row_of = {**cat.index, "": -2}
    parts = [
        _to_columns(hub.store.event_columns(channel, TYPES, user_ids=keys[start : start + 5000]), pos, row_of)
        for start in range(0, len(keys), 5000)
    ]
    return _EventLog.build(parts, len(keys))


def _start_scan(hub: Hub, channel: str, pool: ThreadPoolExecutor) -> list[Future[EventColumns]]:
    """Read the whole event log, its parts in parallel on ``pool`` (SQLite works without the GIL), so
    the reads overlap whatever the caller does meanwhile (user documents, matrices)."""
    return [pool.submit(hub.store.event_columns, channel, TYPES, part=part) for part in hub.store.event_scan_parts()]


def _unpack_reads(reads: list[Future[EventColumns]], cat: Catalog, pos: dict[str, int]) -> list[tuple[np.ndarray, ...]]:
    """Unpack each part as soon as it is read, against the *requested* ids' positions ``pos`` — known at
    once, unlike the canonical ids, which wait for the user documents. Run on a thread of its own while
    the caller reads the user documents and the pool reads the next parts: unpacking after the whole
    scan, on the caller's thread, kept every chunk waiting while the other core had little to do.
    Parts in scan order (which breaks ties between equal stamps)."""
    row_of = {**cat.index, "": -2}
    at = {id(read): k for k, read in enumerate(reads)}
    parts: list[tuple[np.ndarray, ...]] = [()] * len(reads)
    for read in as_completed(reads):
        parts[at[id(read)]] = _to_columns(read.result(), pos, row_of)
    return parts


def _finish_scan(
    reads: list[Future[EventColumns]],
    unpacked: Future[list[tuple[np.ndarray, ...]]],
    cat: Catalog,
    user_ids: Sequence[str],
    pos: dict[str, int],
    canon: list[str],
    key_of: dict[str, int],
    key_idx: np.ndarray,
) -> _EventLog:
    """The scanned events of the canonical ids ``key_of`` (id → key) as a log.

    The ranges were unpacked against ``pos`` (requested id → a position of it). An event belongs to
    key ``key_of[its user]``, kept only when its user is a canonical id (events of merged-away ids are
    not read, as before): for a position whose id is its own canonical id that is ``key_idx`` at the
    position; for a merged-away id, ``key_of`` of the id itself (usually absent). A canonical id that
    was not itself requested (a merge target) has no position: then the ranges are unpacked again
    against ``key_of`` — a rare, slower path that gives the same log."""
    found = unpacked.result()
    remap = key_idx.copy()
    complete = True
    for i in [i for i, (c, u) in enumerate(zip(canon, user_ids, strict=True)) if c != u]:
        remap[i] = key_of.get(user_ids[i], -1)
        complete = complete and canon[i] in pos
    parts = []
    if complete:
        for at, *rest in found:
            key = remap[at]
            keep = key >= 0
            parts.append((key, *rest) if keep.all() else (key[keep], *(c[keep] for c in rest)))
    else:
        row_of = {**cat.index, "": -2}
        parts = [_to_columns(read.result(), key_of, row_of) for read in reads]
    return _EventLog.build(parts, len(key_of))


# --- profile facts ---------------------------------------------------------------------------------


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


def _csr(
    data: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype: Any = np.float32
) -> sparse.csr_matrix:
    m = sparse.csr_matrix((data.astype(dtype, copy=False), (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


class _Facts:
    """Per-user profile facts for one chunk, mirroring profiles.load_profile / audience_for."""

    def __init__(
        self, hub: Hub, cat: Catalog, ev: _Events, first_seen: np.ndarray, channel: str, now: datetime
    ) -> None:
        n = first_seen.size
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
        self.recent = _csr(_W[ev.type[take]] * decay[take], ev.user[take], ev.row[take], (n, len(cat)))
        # the user vector is the weighted sum of those assets' vectors (positive weights): it exists when
        # one of them has a vector (its norm does not matter: similarity is min-max scaled per user)
        self.has_vector = (
            np.bincount(
                np.repeat(np.arange(n), np.diff(self.recent.indptr)),
                weights=cat.has_vector[self.recent.indices],
                minlength=n,
            )
            > 0
        )
        # tag weights: every weighted event, decayed, times the asset's features (what the profile
        # counters add up); audience_for drops weights with |w| ≤ 1e-6
        weighted = (_W[ev.type] != 0) & (ev.row >= 0)
        e = _csr(_W[ev.type[weighted]] * decay[weighted], ev.user[weighted], ev.row[weighted], (n, len(cat)))
        tags = (e @ cat.features).tocsr()
        tags.data[np.abs(tags.data) <= 1e-6] = 0.0
        tags.eliminate_zeros()
        self.tags = tags
        self.has_tags = np.diff(tags.indptr) > 0
        # engagement-rate evidence per topic and content type: the profile counters' e: (decayed
        # deliveries) and g: (decayed RATE_WEIGHTS) fields, from the assets' current topic and type
        self.rates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.evidence = np.zeros(n, dtype=bool)  # evidence of the user's own on any rate (Audience.has_evidence)
        self.rate_priors: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # (α₀, β₀) per slot of each signal
        with_asset = ev.row >= 0
        exposed = with_asset & (ev.type == TYPE_CODE["delivered"])
        engaged_w = with_asset & (_RW[ev.type] != 0)
        _, topic_prior, type_prior = population_rates(cat)
        for name, of_row, width, prior in (
            ("topic", cat.topic_of_row, len(cat.topic_names), topic_prior),
            ("type", cat.type_of_row, len(cat.type_names), type_prior),
        ):
            if width == 0:
                continue
            sums = []
            for keep, weight in ((exposed, decay), (engaged_w, _RW[ev.type] * decay)):
                slot = of_row[ev.row[keep]]
                named = slot < width  # the "none" slot keeps the prior
                flat = ev.user[keep][named] * width + slot[named]
                sums.append(np.bincount(flat, weights=weight[keep][named], minlength=n * width).reshape(n, width))
            a, b, has = rate_posterior_rows(sums[0], sums[1], prior)
            self.rates[name] = (a, b, has)
            self.evidence |= has
            self.rate_priors[name] = (RATE_PRIOR_DELIVERIES * prior, RATE_PRIOR_DELIVERIES * (1 - prior))
        # exclusions (``exclusions``' rules over the columns): muted/deleted assets among the newest
        # NEGATIVES_LIMIT negative events, and assets sent on this channel since the re-delivery cutoff
        # (from history)
        neg_rank = _rank_in_group(ev.user, _NEG[ev.type])
        negs = (neg_rank >= 0) & (neg_rank < NEGATIVES_LIMIT)
        in_catalog = ev.row >= 0
        ex = (negs & exclusions.blocks_asset(_BLOCKING[ev.type], in_catalog)) | (
            hist
            & exclusions.blocks_resend(
                _SENT[ev.type], ev.channel, in_catalog, ev.ts, redelivery_cutoff(hub, now).timestamp()
            )
        )
        self.exclude = _csr(np.ones(int(ex.sum()), dtype=bool), ev.user[ex], ev.row[ex], (n, len(cat)), bool)
        # unsubscribed from this channel
        unsub = (
            negs
            & ev.channel
            & exclusions.closes_channel(ev.type == TYPE_CODE["unsubscribe"], ev.type == TYPE_CODE["mute"], ev.no_asset)
        )
        self.unsubscribed = _groups_any(ev.user, unsub, n)
        # caps from deliveries on this channel in history
        self.capped = self.unsubscribed | self._capped(hub, ev, hist, channel, now, n)
        # lifecycle stage
        self.stage = self._stages(hub, ev, hist, first_seen, now, n)

    @staticmethod
    def _capped(hub: Hub, ev: _Events, hist: np.ndarray, channel: str, now: datetime, n: int) -> np.ndarray:
        """caps.send_times + caps.cap_status for every user at once, through the same two rules."""
        on = np.flatnonzero(hist & ev.channel)
        counted = caps.counted_sends(
            ev.user[on],
            ev.type[on] == TYPE_CODE["delivered"],
            ev.reserved[on] & (ev.type[on] == TYPE_CODE["served"]),
            ev.rec[on],
        )
        sent = on[counted]
        return caps.capped_targets(hub, caps.get_rule(hub, channel), ev.user[sent], ev.ts[sent], n, now)

    @staticmethod
    def _stages(hub: Hub, ev: _Events, hist: np.ndarray, first_seen: np.ndarray, now: datetime, n: int) -> np.ndarray:
        """lifecycle.classify's stage for every user at once: its summary figures per user, then
        ``lifecycle.stages_of``, the rule ``classify`` applies."""
        rules = lifecycle.get_rules(hub)
        t_now = now.timestamp()
        engaged = hist & _ENG[ev.type]
        last = np.full(n, -np.inf)
        np.maximum.at(last, ev.user[engaged], ev.ts[engaged])
        days_since = np.where(np.isfinite(last), (t_now - last) / 86400.0, np.nan)
        age = np.where(np.isnan(first_seen), 0.0, (t_now - first_seen) / 86400.0)
        recent90 = engaged & (np.floor((t_now - ev.ts) / 86400.0) <= 90)
        day_key = np.unique(ev.user[recent90] * 1_000_000 + np.floor(ev.ts[recent90] / 86400.0).astype(np.int64))
        engaged_days = np.bincount(day_key // 1_000_000, minlength=n)
        orders = _groups_any(ev.user, hist & (ev.type == TYPE_CODE["convert"]), n)
        unsub = _groups_any(ev.user, hist & (ev.type == TYPE_CODE["unsubscribe"]), n)
        return lifecycle.stages_of(
            rules, days_since=days_since, age_days=age, unsubscribed=unsub, engaged_days=engaged_days, has_orders=orders
        )


# --- signals ---------------------------------------------------------------------------------------


class _LazyRows:
    """A dense (rows × candidates) float32 matrix whose rows are computed on first use. Thread-safe:
    chunks scored on several threads ask for rows; a row is computed once, under the lock."""

    def __init__(self, n_rows: int, n_cols: int, fill: Callable[[np.ndarray, np.ndarray], None]) -> None:
        self.m = np.empty((n_rows, n_cols), dtype=np.float32)
        self.done = np.zeros(n_rows, dtype=bool)
        self.fill = fill  # fill(rows, out): write those rows into ``out``
        self.lock = threading.Lock()

    def ensure(self, used: sparse.csr_matrix) -> None:
        self.ensure_rows(np.unique(used.indices))

    def ensure_rows(self, rows: np.ndarray) -> None:
        with self.lock:
            rows = rows[~self.done[rows]]
            for k in range(0, rows.size, 1024):
                part = rows[k : k + 1024]
                if part[-1] - part[0] + 1 == part.size:  # a run of rows (the prefill): straight into place
                    self.fill(part, self.m[part[0] : part[-1] + 1])
                else:
                    out = np.empty((part.size, self.m.shape[1]), dtype=np.float32)
                    self.fill(part, out)
                    self.m[part] = out
            self.done[rows] = True


def _fixed_parts(
    hub: Hub, cat: Catalog, strategy: Strategy, channel: str, idx: np.ndarray, now: datetime
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The unscaled user-independent signals the strategy weighs, each from the function ``score_candidates``
    takes it from: ({freshness, appeal} over the candidates, the lifecycle fit per stage (rows indexed by
    stage code) or None)."""
    parts: dict[str, np.ndarray] = {}
    if strategy.weight("freshness"):
        parts["freshness"] = freshness(cat, idx, now, strategy.freshness_half_life_days)
    if strategy.weight("appeal"):  # user-independent and never drawn (ranking.score_candidates says why)
        app = appeal_posterior(cat, channel)
        if app is not None:
            parts["appeal"] = app[3][idx]
    fit = None
    if strategy.weight("lifecycle"):
        rules = lifecycle.get_rules(hub)
        fit = np.array([cat.lifecycle_fit(stage, tuple(rules.stage_scenes.get(stage, [])))[idx] for stage in STAGES])
    return parts, fit


def _fixed_rows(strategy: Strategy, parts: dict[str, np.ndarray], fit: np.ndarray | None, n_cand: int) -> np.ndarray:
    """The weighted fixed parts per lifecycle stage (rows indexed by stage code), at the strategy's weights."""
    base = np.zeros(n_cand)
    for name, values in parts.items():
        base += strategy.weight(name) * values
    if fit is None:
        return np.repeat(base[None, :], len(STAGES), axis=0)
    return base[None, :] + strategy.weight("lifecycle") * fit


def _minmax_rows(values: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """ranking's scaling (``minmax_coefficients``) of ``values`` for each row's own (lo, hi)."""
    scale, offset = minmax_coefficients(
        np.atleast_1d(np.asarray(lo, dtype=np.float64)), np.atleast_1d(np.asarray(hi, dtype=np.float64))
    )
    return values * scale[:, None] + offset[:, None]


def _extremes(values: np.ndarray) -> tuple[tuple[np.ndarray, int], ...]:
    """(mask, count) of the candidates at ``values``' min and at its max."""
    at_min, at_max = values == values.min(), values == values.max()
    return (at_min, int(at_min.sum())), (at_max, int(at_max.sum()))


def _shared_minmax(
    values: np.ndarray,
    excl_rows: np.ndarray,
    excl_cols: np.ndarray,
    n_users: int,
    extremes: tuple[tuple[np.ndarray, int], ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose exclusions remove every candidate at the shared vector's min or max, and their min and
    max over the remaining candidates (exclusions are unique (row, column) pairs). ``extremes``:
    ``_extremes(values)``, made once per draw (``_Draw``)."""
    moved = np.zeros(n_users, dtype=bool)
    for at, count in extremes:
        hits = np.bincount(excl_rows[at[excl_cols]], minlength=n_users)
        moved |= hits >= count
    rows = np.flatnonzero(moved)
    if rows.size == 0:
        return rows, np.zeros(0), np.zeros(0)
    masked = np.repeat(values[None, :], rows.size, axis=0)
    where = np.full(n_users, -1, dtype=np.int64)
    where[rows] = np.arange(rows.size)
    sel = where[excl_rows] >= 0
    masked[where[excl_rows[sel]], excl_cols[sel]] = np.nan
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a user without any candidate: all NaN
        return rows, np.nanmin(masked, axis=1), np.nanmax(masked, axis=1)


@dataclass
class _Draw:
    """The shared part of the score for one block: per stage (stage fit + scaled shared signals) and the
    raw shared signals, whose per-user min/max can move when a user's exclusions hit them."""

    base: np.ndarray  # (stages, candidates) float32
    shared: dict[str, np.ndarray]
    # per shared signal, its candidates at the min and at the max (_extremes): a draw serves several
    # blocks (DRAW_USERS users; every user without exploration), which redid these passes each
    extremes: dict[str, tuple[tuple[np.ndarray, int], ...]] = field(default_factory=dict)


@dataclass
class _Block:
    """One block of (uncapped) users: their positions in the chunk and their sparse rows."""

    users: np.ndarray
    stage: np.ndarray
    recent: Rows
    has_vector: np.ndarray
    tags: Rows
    has_tags: np.ndarray
    engaged: Rows | None
    has_engaged: np.ndarray | None
    ex_r: np.ndarray  # exclusions: block row, candidate column
    ex_c: np.ndarray
    draw: _Draw
    # per engagement-rate signal ("topic", "type"): the block's Beta posteriors (α, β: rows × slots) and
    # whether each user has any evidence (scoring.rate_posterior_rows)
    rates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    rate_priors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # (α₀, β₀) per slot
    rng: np.random.Generator | None = None  # the chunk's generator when exploring
    explore: bool = False  # the block's users explore (``ranking.explores``): drawn rates, ``draw`` a Thompson draw
    # per signal, each user's weight (``ranking.drawn_weights``) when the weights are drawn; None: the strategy's
    weights: dict[str, np.ndarray] | None = None


class _Scorer:
    """Everything a block needs that does not depend on the users: candidate columns, the dense
    asset × candidate matrices of each signal, the strategy's weights."""

    def __init__(self, hub: Hub, cat: Catalog, strat: Strategy, channel: str, idx: np.ndarray, now: datetime) -> None:
        self.w_sim, self.w_aff, self.w_col = (
            strat.weight("similarity"),
            strat.weight("affinity"),
            strat.weight("collaborative"),
        )
        # the engagement-rate signals, as ranking.score_candidates adds them: (name, weight, slot of each
        # (topic, type) pair) and the pair of each candidate column — set below, once the columns' order is known
        self.rate_terms: list[tuple[str, float, np.ndarray]] = []
        self.pair_of_cand = np.zeros(0, dtype=np.int64)
        model = cat.engagement
        self.model = (
            model
            if (model is not None and cat.model_rows is not None and bool(model.asset_ids) and self.w_col)
            else None
        )
        # Candidate columns: the modelled candidates first, so the collaborative signal (zero off the
        # model) is a product over that leading slice only — about half the columns. ``rank`` is each
        # column's place in catalog order, which breaks ties as a request does (lowest row first).
        self.n_model = 0
        if self.model is not None:
            assert cat.model_rows is not None
            modelled = np.zeros(len(cat), dtype=bool)
            modelled[cat.model_rows[cat.model_rows >= 0]] = True
            self.n_model = int(modelled[idx].sum())
            idx = np.concatenate([idx[modelled[idx]], idx[~modelled[idx]]])
        self.rank = np.argsort(idx, kind="stable")
        self.rank[self.rank.copy()] = np.arange(idx.size)
        self.reordered = bool(idx.size) and bool((np.diff(idx) < 0).any())
        self.cat, self.strat, self.idx, self.n_cand, self.channel = cat, strat, idx, idx.size, channel
        # Both rate signals depend on a candidate only through its (topic, type) pair: a block adds them up
        # per pair present among the candidates (a few dozen columns) and gathers that onto the
        # candidates once, instead of two (users × candidates) passes per signal.
        n_types = len(cat.type_names) + 1
        pair, self.pair_of_cand = np.unique(cat.topic_of_row[idx] * n_types + cat.type_of_row[idx], return_inverse=True)
        if strat.weight("topic") and cat.topic_names:
            self.rate_terms.append(("topic", strat.weight("topic"), pair // n_types))
        if strat.weight("type") and len(cat.type_names) > 1:
            self.rate_terms.append(("type", strat.weight("type"), pair % n_types))
        # the quality posterior of every row and, with exploration, its pool of samples: made here, once,
        # not by whichever chunk thread asks first (both are memoised per statistics refresh)
        post = posterior(cat, channel) if strat.weight("quality") else None
        if post is not None and strat.exploration:
            posterior_samples(cat, channel, post)
        self.col_of = np.full(len(cat), -1, dtype=np.int64)
        self.col_of[idx] = np.arange(idx.size)
        vec_c = np.ascontiguousarray(cat.vectors[idx].T)  # dim × candidates

        def sim_rows(rows: np.ndarray, out: np.ndarray) -> None:
            np.matmul(cat.vectors[rows], vec_c, out=out)

        self.sim = _LazyRows(len(cat), idx.size, sim_rows) if self.w_sim else None
        # candidates × features, sparse: affinity is (candidate features) · (user tag weights), a few
        # short row additions per candidate over a block's dense tag weights
        self.feat_c = cat.features[idx].tocsr().astype(np.float32)
        if self.model is not None:
            assert cat.model_rows is not None
            in_c = cat.model_rows >= 0
            model_cols = np.where(in_c, self.col_of[np.maximum(cat.model_rows, 0)], -1)
            keep = np.flatnonzero(model_cols >= 0)
            weights = np.asarray(self.model.weights, dtype=np.float32)
            # the model column behind each of the first n_model candidate columns
            source = np.empty(self.n_model, dtype=np.int64)
            source[model_cols[keep]] = keep

            def collab_rows(rows: np.ndarray, out: np.ndarray) -> None:
                out[...] = model_columns(weights, rows, source)

            self.collab = _LazyRows(len(self.model.asset_ids), self.n_model, collab_rows)
            self.row_to_model = np.full(len(cat), -1, dtype=np.int64)
            self.row_to_model[cat.model_rows[in_c]] = np.flatnonzero(in_c)
        self.fixed_parts, self.fit = _fixed_parts(hub, cat, strat, channel, idx, now)
        self.fixed = _fixed_rows(strat, self.fixed_parts, self.fit, idx.size)
        # the candidate side of ``raw_signals.raw_values`` (the lazy matrices' rows are filled by ``prepare``)
        self.columns = Columns(
            similarity=self.sim.m if self.sim is not None else None,
            features=self.feat_c if self.w_aff else None,
            collaborative=self.collab.m if self.model is not None else None,
        )

    def shared(self, rng: np.random.Generator, explore: bool) -> dict[str, np.ndarray]:
        """Raw user-independent signals over the candidates (before per-user scaling), from ranking's
        functions: for exploring users, one of each candidate's pooled posterior samples, else the means."""
        out: dict[str, np.ndarray] = {}
        if self.strat.weight("quality"):
            out["quality"] = quality_values(self.cat, self.strat, self.channel, self.idx, rng, explore=explore)[0]
        if self.strat.weight("popularity"):
            pop = popularity_values(self.cat, self.channel, self.idx)
            if pop is not None:
                out["popularity"] = pop
        return out

    def draw(self, rng: np.random.Generator, explore: bool) -> _Draw:
        shared = self.shared(rng, explore)
        base = self.fixed.copy()
        for k, v in shared.items():
            if v.size:
                base += self.strat.weight(k) * _minmax_rows(v[None, :], v.min(), v.max())[0]
        return _Draw(
            base=base.astype(np.float32), shared=shared, extremes={k: _extremes(v) for k, v in shared.items() if v.size}
        )

    def engaged(self, facts: _Facts, canon: Sequence[str]) -> tuple[sparse.csr_matrix, np.ndarray] | None:
        """Binary users × modelled assets: the history of the last fit plus recent positive events."""
        if self.model is None:
            return None
        model = self.model
        n = len(canon)
        mrows = np.fromiter(map(model.user_rows.get, canon, repeat(-1)), dtype=np.int64, count=n)
        known = np.flatnonzero(mrows >= 0)
        hist = model.history[mrows[known]].tocoo()
        rec = facts.recent.tocoo()
        mpos = self.row_to_model[rec.col]
        ok = (mpos >= 0) & (rec.data > 0)
        rows = np.concatenate([known[hist.row], rec.row[ok]])
        cols = np.concatenate([hist.col, mpos[ok]])
        eng = _csr(np.ones(rows.size, dtype=np.float32), rows, cols, (n, len(model.asset_ids)))
        eng.data[:] = 1.0
        return eng, np.diff(eng.indptr) > 0

    def prefill(self) -> None:
        """Compute the matrix rows of every asset with engagement and every modelled asset up front: when
        most users are asked for, their events refer to nearly all of them, and computing the rows on a
        pool thread while the event log is read (BLAS and the gathers release the GIL) takes them off
        the critical path. Rows missed here (an asset first engaged since the counters were read) are
        still filled on demand by ``prepare``."""
        if self.sim is not None:
            pop = self.cat.popularity
            rows = np.flatnonzero(sum(v != 0 for v in pop.values())) if pop else np.arange(len(self.cat))
            self.sim.ensure_rows(rows)
        if self.model is not None:
            self.collab.ensure_rows(np.arange(len(self.model.asset_ids)))

    def prepare(self, facts: _Facts, eng: tuple[sparse.csr_matrix, np.ndarray] | None) -> None:
        """Compute (once) the matrix rows this chunk's users refer to, before its blocks are scored."""
        if self.sim is not None:
            self.sim.ensure(facts.recent)
        if eng is not None:
            self.collab.ensure(eng[0])

    def score(self, b: _Block, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` candidate columns (−1: none) and their blended scores for one block."""
        m = b.users.size
        if self.n_cand == 0:
            return np.full((m, n), -1, dtype=np.int64), np.full((m, n), -np.inf)
        score = np.take(b.draw.base, b.stage, axis=0)
        const = np.zeros(m)
        ex_r, ex_c = b.ex_r, b.ex_c
        strat = self.strat
        drawn = b.weights

        def weight(name: str) -> float | np.ndarray:
            """The strategy's weight, or each user's drawn weight (a column) on a block that draws them."""
            return strat.weight(name) if drawn is None else drawn[name][:, None]

        if drawn is not None:  # the base holds the strategy's weights: add each user's difference
            for name, values in self.fixed_parts.items():
                score += ((drawn[name] - strat.weight(name))[:, None] * values).astype(np.float32)
            if self.fit is not None:
                score += (
                    (drawn["lifecycle"] - strat.weight("lifecycle"))[:, None] * np.take(self.fit, b.stage, axis=0)
                ).astype(np.float32)
            for name, values in b.draw.shared.items():
                if values.size:
                    score += (
                        (drawn[name] - strat.weight(name))[:, None]
                        * _minmax_rows(values[None, :], values.min(), values.max())
                    ).astype(np.float32)
        for name, values in b.draw.shared.items():
            # a user's exclusions may remove the channel-wide min or max: rescale just those rows
            moved, lo, hi = _shared_minmax(values, ex_r, ex_c, m, b.draw.extremes.get(name) or _extremes(values))
            if moved.size:
                w = strat.weight(name) if drawn is None else drawn[name][moved][:, None]
                score[moved] += (
                    w
                    * (
                        _minmax_rows(values[None, :], lo, hi)
                        - _minmax_rows(values[None, :], values.min(), values.max())
                    )
                ).astype(np.float32)
        # every user's excluded cells take the value of one of the user's own candidates, so a plain
        # row min/max is the min/max over the candidates (the cells become −inf at the end)
        per_user = np.bincount(ex_r, minlength=m)
        depth = min(int(per_user.max(initial=0)) + 1, self.n_cand)
        mark = np.zeros((m, depth), dtype=bool)
        low = ex_c < depth
        mark[ex_r[low], ex_c[low]] = True
        ref = np.argmin(mark, axis=1)[ex_r]

        # the raw values: the function one request calls with a block of one
        raw = raw_values(
            Audiences(
                recent=b.recent if self.sim is not None else None,
                tags=np.ascontiguousarray(b.tags.toarray().T, dtype=np.float32) if self.w_aff else None,
                engaged=b.engaged if self.n_model else None,
            ),
            self.columns,
        )
        for name in ("similarity", "affinity"):
            if name in raw and ex_r.size:
                raw[name][ex_r, ex_c] = raw[name][ex_r, ref]
        if "similarity" in raw:
            _scale_into(score, const, raw["similarity"], self._w(b, "similarity"), b.has_vector)
        if "affinity" in raw:
            _affinity_into(score, const, raw["affinity"], self._w(b, "affinity"), b.has_tags)
        if "collaborative" in raw:
            self._collaborative_into(score, const, raw["collaborative"], b, ref)
        per_pair = None
        for name, _ignored, slots in self.rate_terms:
            found = b.rates.get(name)
            if found is None:
                continue
            # an audience without evidence of its own keeps the population's prior, which still ranks
            a, beta = with_strength(found[0], found[1], b.rate_priors.get(name), strat.rate_prior.get(name))
            ref = a[:, -1:] / (a[:, -1:] + beta[:, -1:])
            part = weight(name) * rate_signal(rate_draw(a, beta, b.explore, b.rng), slots, ref)
            per_pair = part if per_pair is None else per_pair + part
        if per_pair is not None:
            score += np.take(per_pair.astype(np.float32), self.pair_of_cand, axis=1)
        if ex_r.size:
            score[ex_r, ex_c] = -np.inf
        if n == 1:
            best = np.argmax(score, axis=1)[:, None]
            if self.reordered:
                self._first_in_catalog_order(score, best[:, 0])
        else:
            k = min(n, self.n_cand)
            part_idx = np.argpartition(-score, k - 1, axis=1)[:, :k]
            order = np.lexsort((self.rank[part_idx], -np.take_along_axis(score, part_idx, 1)))
            best = np.take_along_axis(part_idx, order, 1)
        got = np.take_along_axis(score, best, 1).astype(np.float64) + const[:, None]
        valid = np.isfinite(got)
        return np.where(valid, best, -1), np.where(valid, got, -np.inf)

    def _w(self, b: _Block, name: str) -> float | np.ndarray:
        """A signal's weight for the block's users: the strategy's, or one drawn per user."""
        return self.strat.weight(name) if b.weights is None else b.weights[name]

    def _collaborative_into(
        self, score: np.ndarray, const: np.ndarray, raw: np.ndarray, b: _Block, ref: np.ndarray
    ) -> None:
        """The collaborative signal, computed over the modelled candidates (columns < n_model) only: the
        others score 0, which enters a user's min/max unless all of them are excluded for the user."""
        width, ex_r, ex_c = self.n_model, b.ex_r, b.ex_c
        assert b.has_engaged is not None  # the caller's condition
        m = raw.shape[0]
        inside = ex_c < width
        if inside.any():  # excluded cells take the value of the user's reference candidate (0 off the model)
            r, c, rc = ex_r[inside], ex_c[inside], ref[inside]
            raw[r, c] = np.where(rc < width, raw[r, np.minimum(rc, width - 1)], 0.0)
        zero = np.bincount(ex_r[~inside], minlength=m) < self.n_cand - width
        _scale_into(score[:, :width], const, raw, self._w(b, "collaborative"), b.has_engaged, zero=zero)

    def _first_in_catalog_order(self, score: np.ndarray, best: np.ndarray) -> None:
        """Among columns tied with a row's best score, pick the lowest in catalog order (ranking's
        ``top_stable``), the columns being in another order here."""
        # each of the two column groups is in catalog order, so only a tie across them needs a look; argmax
        # takes the first best column, so a best in the second group has no tie in the first, and a best
        # in the first only needs the second group's max
        width = self.n_model
        top = score[np.arange(best.size), best]
        top_b = score[:, width:].max(axis=1)
        for r in np.flatnonzero((best < width) & (top_b == top) & np.isfinite(top)).tolist():
            cols = np.flatnonzero(score[r] == top[r])
            best[r] = cols[np.argmin(self.rank[cols])]


def _scale_into(
    score: np.ndarray,
    const: np.ndarray,
    raw: np.ndarray,
    weight: float | np.ndarray,
    has: np.ndarray,
    zero: np.ndarray | None = None,
) -> None:
    """score += weight · minmax(raw) per row (ranking's ``minmax_coefficients``), the per-row offset going
    to ``const``; rows where ``has`` is False get nothing. ``zero``: rows whose signal is also 0 on
    candidates outside ``raw``'s columns (so 0 counts in their min/max)."""
    lo = raw.min(axis=1).astype(np.float64)
    hi = raw.max(axis=1).astype(np.float64)
    if zero is not None:
        lo = np.where(zero, np.minimum(lo, 0.0), lo)
        hi = np.where(zero, np.maximum(hi, 0.0), hi)
    scale, offset = minmax_coefficients(lo, hi)
    w = np.where(has, weight, 0.0)
    const += w * offset
    raw *= (w * scale).astype(np.float32)[:, None]
    score += raw


def _affinity_into(
    score: np.ndarray, const: np.ndarray, raw: np.ndarray, weight: float | np.ndarray, has: np.ndarray
) -> None:
    """score += weight · affinity's scaling of raw per row (ranking's ``signed_coefficients``):
    p·max(raw, 0) + q·min(raw, 0), the constant going to ``const``."""
    lo = raw.min(axis=1).astype(np.float64)
    hi = raw.max(axis=1).astype(np.float64)
    p, q, c = signed_coefficients(lo, hi)
    w = np.where(has, weight, 0.0)
    p, q = w * p, w * q
    const += w * c
    mixed = (lo < 0) & (hi > 0) & has
    n_mixed = int(mixed.sum())
    if 4 * n_mixed >= mixed.size:  # p·max(raw, 0) + q·min(raw, 0) = q·raw + (p − q)·max(raw, 0)
        # most rows mixed: in place over the whole block (other rows add 0), no gather and scatter
        part = np.maximum(raw, np.float32(0))
        part *= np.where(mixed, p - q, 0.0).astype(np.float32)[:, None]
        score += part
    elif n_mixed:
        rows = np.flatnonzero(mixed)
        score[rows] += (p - q)[rows].astype(np.float32)[:, None] * np.maximum(raw[rows], 0)
    coef = np.where(mixed | (lo < 0), q, p)  # rows entirely ≥ 0 use p, entirely < 0 (or mixed) q
    raw *= coef.astype(np.float32)[:, None]
    score += raw


# --- the batch ---------------------------------------------------------------------------------------


def next_for_users(
    hub: Hub,
    user_ids: Sequence[str],
    channel: str,
    *,
    scene: str | None = None,
    n: int = 1,
    strategy: str = "default",
    now: datetime | None = None,
    seed: int | None = None,
    chunk: int = CHUNK,
    block: int = BLOCK,
    workers: int | None = None,
    timings: dict[str, float] | None = None,
) -> Iterator[BatchPicks]:
    """Top ``n`` assets per user on ``channel`` (no MMR: the batch picks by score), chunk by chunk, in
    the order of ``user_ids``. ``workers`` threads (default: one per core) each take whole chunks —
    events, profile facts and scoring — so the cores work independently (numpy, scipy and SQLite
    release the GIL). ``timings``, when given, receives wall seconds of the parts, which overlap:
    ``matrices`` (asset × candidate matrices, built while the log is read), ``users`` (user documents),
    ``events`` (the scan, or the look-ups summed over chunks), ``scoring`` (first chunk to last)."""
    timings = {} if timings is None else timings
    for part in ("matrices", "users", "events", "scoring"):
        timings[part] = 0.0
    started = time.perf_counter()
    now = now or utcnow()
    strat = get_strategy(hub, strategy)
    cat = catalog(hub)
    idx = np.flatnonzero(candidate_mask(cat, channel, scene, now, set()))
    scorer = _Scorer(hub, cat, strat, channel, idx, now)
    scan = len(user_ids) >= SCAN_SHARE * max(hub.store.count_docs(users.USERS), 1)
    workers = workers or os.cpu_count() or 1
    pool = ThreadPoolExecutor(max_workers=workers)
    side = ThreadPoolExecutor(max_workers=2)  # the matrices; unpacking the scan
    try:
        log = None
        if scan:
            t0 = time.perf_counter()
            reads = _start_scan(hub, channel, pool)
            prefill = side.submit(_timed, scorer.prefill)  # its own thread: not queued behind the reads
            pos = {u: i for i, u in enumerate(user_ids)}
            unpacked = side.submit(_unpack_reads, reads, cat, pos)
        started = time.perf_counter()
        canon, first_seen = _user_facts(hub, user_ids, every_user=scan)
        timings["users"] = time.perf_counter() - started
        keys = list(dict.fromkeys(canon))
        key_of = {u: i for i, u in enumerate(keys)}
        key_idx = np.fromiter(map(key_of.__getitem__, canon), dtype=np.int64, count=len(canon))
        if scan:
            log = _finish_scan(reads, unpacked, cat, user_ids, pos, canon, key_of, key_idx)
            timings["events"] = time.perf_counter() - t0
        # chunks start at once: each waits for the matrices only when it needs their rows (prepare)
        job = _Job(hub, cat, scorer, channel, now, n, block, canon, key_idx, keys, first_seen, log, timings)
        yield from _run_chunks(job, user_ids, chunk, pool, 2 * workers, seed)
        if scan:
            timings["matrices"] = prefill.result()
    finally:
        pool.shutdown(cancel_futures=True)
        side.shutdown(cancel_futures=True)


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass
class _Job:
    """What every chunk of one batch call shares (read-only while chunks run, except the lazy rows)."""

    hub: Hub
    cat: Catalog
    scorer: _Scorer
    channel: str
    now: datetime
    n: int
    block: int
    canon: list[str]  # canonical id per requested user
    key_idx: np.ndarray  # index of that id in ``keys`` per requested user
    keys: list[str]  # unique canonical ids
    first_seen: np.ndarray
    log: _EventLog | None  # the scanned events, or None: each chunk looks its users' events up
    timings: dict[str, float]
    lock: threading.Lock = field(default_factory=threading.Lock)


def _run_chunks(
    job: _Job, user_ids: Sequence[str], chunk: int, pool: ThreadPoolExecutor, ahead: int, seed: int | None
) -> Iterator[BatchPicks]:
    """Score chunks on ``pool``, a few ahead of the one being yielded (memory stays bounded), and yield
    them in order. Exploration draws come from one generator per chunk, spawned in order from ``seed``,
    so the picks do not depend on which thread ran which chunk."""
    started = time.perf_counter()
    starts = range(0, len(user_ids), chunk)
    explore = job.scorer.strat.exploration
    seeds = np.random.SeedSequence(seed).spawn(len(starts)) if explore else [None] * len(starts)
    means = job.scorer.draw(np.random.default_rng(seed), explore=False)  # the posterior means: no random draw
    pending: list[Future[BatchPicks]] = []
    for k, start in enumerate(starts):
        pending.append(pool.submit(_score_chunk, job, list(user_ids[start : start + chunk]), start, seeds[k], means))
        if len(pending) > ahead:
            yield pending.pop(0).result()
    for fut in pending:
        yield fut.result()
    job.timings["scoring"] = time.perf_counter() - started


def _score_chunk(
    job: _Job, part: list[str], start: int, seed: np.random.SeedSequence | None, means: _Draw
) -> BatchPicks:
    """One chunk, start to end on the calling thread: its events, profile facts, matrix rows, blocks.

    Exploration is decided per user by the per-user path's rule (``ranking.exploring_share`` from whether
    the user has evidence of its own, ``ranking.explores``); the users who rank by the posterior means come
    first, in blocks that share ``means``, and the exploring users after them, in blocks of their own that
    take a Thompson draw of the quality posterior per DRAW_USERS users, draw each user's topic and type
    rates, and the weights of ``ranking.drawn_weights``."""
    m, n, block, scorer = len(part), job.n, job.block, job.scorer
    ckeys = job.key_idx[start : start + m]
    if job.log is not None:
        ev = job.log.take(ckeys)
    else:
        t0 = time.perf_counter()
        uniq, inverse = np.unique(ckeys, return_inverse=True)
        ev = _read_log(job.hub, job.cat, [job.keys[k] for k in uniq], job.channel).take(inverse)
        with job.lock:
            job.timings["events"] += time.perf_counter() - t0
    facts = _Facts(job.hub, job.cat, ev, job.first_seen[start : start + m], job.channel, job.now)
    eng = scorer.engaged(facts, job.canon[start : start + m])
    scorer.prepare(facts, eng)
    rows_out = np.full((m, n), -1, dtype=np.int64)
    scores_out = np.full((m, n), -np.inf)
    explored = np.zeros(m, dtype=bool)
    active = np.flatnonzero(~facts.capped)
    if active.size and scorer.n_cand:
        rng = np.random.default_rng(seed) if seed is not None else None
        exploring = np.zeros(active.size, dtype=bool)
        weights: dict[str, np.ndarray] | None = None
        if rng is not None:
            exploring = explores(exploring_share(scorer.strat, facts.evidence[active]), rng)
            order = np.argsort(exploring, kind="stable")  # the users ranked by the means first
            active, exploring = active[order], exploring[order]
            explored[active] = exploring
            if scorer.strat.uncertainty:
                weights = drawn_weights(scorer.strat, rng, exploring)
        n_means = int(active.size - exploring.sum())
        recent, tags = facts.recent[active], facts.tags[active]
        engm = eng[0][active] if eng is not None else None
        ex = facts.exclude[active].tocoo()
        ex_cols = scorer.col_of[ex.col]
        ok = ex_cols >= 0
        ex_row, ex_col = ex.row[ok].astype(np.int64), ex_cols[ok]
        # blocks never mix the two groups
        bounds = np.unique(np.r_[np.arange(0, n_means, block), np.arange(n_means, active.size, block), active.size])
        ex_start = np.searchsorted(ex_row, bounds)
        draw, draw_every = means, max(1, DRAW_USERS // block)
        for k, (b0, b1) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            explore_b = b0 >= n_means
            if explore_b:
                assert rng is not None
                if (b0 - n_means) % (draw_every * block) == 0:
                    draw = scorer.draw(rng, explore=True)  # Thompson draws: one per DRAW_USERS users
            users_b = active[b0:b1]
            e0, e1 = ex_start[k], ex_start[k + 1]
            blk = _Block(
                users=users_b,
                stage=facts.stage[users_b],
                recent=Rows.of(recent, b0, b1),
                has_vector=facts.has_vector[users_b],
                tags=Rows.of(tags, b0, b1),
                has_tags=facts.has_tags[users_b],
                engaged=Rows.of(engm, b0, b1) if engm is not None else None,
                has_engaged=eng[1][users_b] if eng is not None else None,
                ex_r=ex_row[e0:e1] - b0,
                ex_c=ex_col[e0:e1],
                draw=draw,
                rates={k: (a[users_b], b_[users_b], has[users_b]) for k, (a, b_, has) in facts.rates.items()},
                rate_priors=facts.rate_priors,
                rng=rng if explore_b else None,
                explore=explore_b,
                weights={k: w[b0:b1] for k, w in weights.items()} if explore_b and weights is not None else None,
            )
            cols, got = scorer.score(blk, n)
            rows_out[users_b, : cols.shape[1]] = np.where(cols >= 0, scorer.idx[np.maximum(cols, 0)], -1)
            scores_out[users_b, : cols.shape[1]] = got
    return BatchPicks(
        user_ids=part,
        rows=rows_out,
        scores=scores_out,
        capped=facts.capped.copy(),
        stages=[STAGES[s] for s in facts.stage.tolist()],
        explored=explored,
    )


def pick_lines(
    hub: Hub,
    user_ids: Sequence[str],
    channel: str,
    *,
    scene: str | None = None,
    n: int = 1,
    strategy: str = "default",
    now: datetime | None = None,
    seed: int | None = None,
    reserve: bool = False,
) -> Iterator[dict[str, Any]]:
    """One JSON-ready line per user: what the segment endpoint (``mode=batch``) and ``contenthub recommend
    batch`` stream. Each pick gets a recommendation id so the events a send produces are attributed; no
    reasons and no MMR (the batch picks by score) — ask ``next_for_user`` for the explained version.

    ``reserve``: keep each user's first pick it wins and log it as a request's reserved pick is logged
    (``service.reserve_batch_block``: its propensity under the same exploration mixture, the served
    record), so offline evaluation sees batch sends too; the line then holds that one pick, with its
    ``propensity``, and ``reserved``. Costs a profile read and a few bulk writes per block of users."""
    import secrets

    cat = catalog(hub)
    now = now or utcnow()
    made_at = to_iso(now)
    strat = get_strategy(hub, strategy)
    rng = np.random.default_rng(seed)
    for res in next_for_users(hub, user_ids, channel, scene=scene, n=n, strategy=strategy, now=now, seed=seed):
        lines: list[dict[str, Any]] = []
        asks: list[tuple[int, BatchAsk]] = []  # (line, what to reserve for it)
        for i, uid in enumerate(res.user_ids):
            made = [
                (r, s, "r_" + secrets.token_hex(8))
                for r, s in zip(res.rows[i].tolist(), res.scores[i].tolist(), strict=True)
                if r >= 0
            ]
            picks = [{"asset_id": cat.ids[r], "score": round(s, 4), "recommendation_id": rid} for r, s, rid in made]
            lines.append(
                {
                    "target": uid,
                    "channel": channel,
                    "strategy": strategy,
                    "stage": res.stages[i],
                    "picks": picks,
                    "capped": bool(res.capped[i]),
                    "made_at": made_at,
                }
            )
            if reserve and picks:
                asks.append((i, BatchAsk(uid, made, bool(res.explored[i]))))
        # the block's reservations together: one profile read and a few bulk writes for its users
        recs = reserve_batch_block(hub, cat, channel, scene, strat, [a for _i, a in asks], now, rng) if asks else []
        for (i, _ask), rec in zip(asks, recs, strict=True):
            line = lines[i]
            line["picks"] = [
                {
                    "asset_id": p.asset_id,
                    "score": p.score,
                    "recommendation_id": p.recommendation_id,
                    "propensity": p.propensity,
                }
                for p in rec.picks
            ]
            line["reserved"], line["capped"] = rec.reserved, rec.capped
            if rec.reason:
                line["reason"] = rec.reason
        for i, line in enumerate(lines):
            if res.capped[i]:
                line["reason"] = "capped or unsubscribed on this channel"
            elif not line["picks"] and "reason" not in line:
                line["reason"] = "no eligible asset"
            yield line
