"""Next content for a user or a group: candidates → exclusions and caps → scores → diverse picks.

Per request only what is about the target is read from the store: the user document, one event read
(two for targets with more than ``profiles.HISTORY_LIMIT`` events) and the profile counters. Everything
else is held per process: the catalog view and its per-channel blocks (``catalog``), and the
configuration documents — strategies, cap rules, lifecycle rules, the taxonomy's channel/scene ids and
label names — in ``doccache``: a write through this process's functions is seen by the next request,
a write by another process (a second API process on the same Elasticsearch cluster) within
``doccache.TTL`` (5) seconds. Running experiments are cached by ``variants.runtime`` the same way.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from contenthub import doccache
from contenthub.audience import caps, exclusions, groups, reservations
from contenthub.audience.profiles import Profile, load_profile, load_profiles, read_user_profile
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.library.feature_names import feature_names
from contenthub.recommend import events
from contenthub.recommend.audiences import audience_for, group_audience
from contenthub.recommend.catalog import Catalog, catalog
from contenthub.recommend.models import Pick, Reason, Recommendation
from contenthub.recommend.ranking import (
    Audience,
    Draws,
    candidate_rows,
    common_reasons,
    explain,
    mmr,
    propensities,
    recent_rows,
    score_candidates,
)
from contenthub.recommend.scoring import redelivery_cutoff
from contenthub.recommend.strategies import Strategy, get_strategy
from contenthub.timeutil import to_iso, utcnow
from contenthub.variants import runtime as variants
from contenthub.variants.runtime import Override

MAX_N = 100


TAXONOMY = taxonomy.COLLECTION  # doccache name of the vocabulary views below: the taxonomy routes touch it


def _with_substitutions(hub: Hub, unit_kind: str, unit_id: str, picks: list[Pick], now: datetime) -> list[Pick]:
    """Picks after running asset experiments (``variants.asset_override``): a swapped pick takes the
    substitute's title, kind, scenes and content type and says why in its reasons; both arms log exposure."""
    out = []
    for pick in picks:
        found = variants.asset_override(hub, unit_kind, unit_id, pick.asset_id)
        if found is None:
            out.append(pick)
            continue
        ov, substitute = found
        variants.log_exposure(hub, ov, unit_id, now)
        doc = hub.store.get_asset(substitute) if substitute != pick.asset_id else None
        if doc is None:
            out.append(pick)
            continue
        reason = Reason(kind="experiment", detail=f"{ov.label} serves {substitute} instead of {pick.asset_id}")
        out.append(
            pick.model_copy(
                update={
                    "asset_id": substitute,
                    "title": doc.get("title", ""),
                    "kind": doc.get("kind", ""),
                    "scenes": doc.get("scenes") or [],
                    "content_type": doc.get("content_type"),
                    "reasons": [*pick.reasons, reason],
                }
            )
        )
    return out


def _taxonomy_ids(hub: Hub, facet: str) -> frozenset[str]:
    return doccache.cached(hub, TAXONOMY, facet, lambda: frozenset(taxonomy.ids(hub.store, facet)))


def _check_value(hub: Hub, field: str, facet: str, value: str) -> None:
    """Known values pass on the memo; an unknown one is checked against the store, so an entry added a
    moment ago (by any process) is accepted at once. A deleted one passes for up to ``doccache.TTL`` s."""
    if value in _taxonomy_ids(hub, facet):
        return
    taxonomy.validate_values(hub.store, field, facet, [value])  # raises, naming the allowed values
    hub.touch(TAXONOMY)  # it exists after all: re-read the memo


def _validate(hub: Hub, channel: str, scene: str | None, n: int) -> None:
    if not 1 <= n <= MAX_N:
        raise InvalidError(_("n must be between 1 and {MAX_N}.").format(MAX_N=MAX_N), field="n", value=n)
    _check_value(hub, "channel", "channels", channel)
    if scene:
        _check_value(hub, "scene", "scenes", scene)


def recently_delivered(events: list[dict[str, Any]], channel: str, since: datetime) -> set[str]:
    """The assets ``exclusions.blocks_resend`` rules out on ``channel`` for sends since ``since``."""
    return exclusions.recently_sent(events, channel, to_iso(since))


_local = threading.local()


def _rng(seed: int | None) -> np.random.Generator:
    """A generator for ``seed``; without one, this thread's own (seeding a fresh generator from the OS
    costs more than the sampling it is used for). Per process id too, so forked workers never share a stream."""
    if seed is not None:
        return np.random.default_rng(seed)
    found: tuple[int, np.random.Generator] | None = getattr(_local, "rng", None)
    if found is None or found[0] != os.getpid():
        found = _local.rng = (os.getpid(), np.random.default_rng())
    return found[1]


def _rank(
    hub: Hub,
    cat: Catalog,
    aud: Audience,
    strategy: Strategy,
    channel: str,
    scene: str | None,
    n: int,
    now: datetime,
    rng: np.random.Generator,
) -> list[Pick]:
    idx, pos = candidate_rows(cat, channel, scene, now, aud.exclude)
    if idx.size == 0:
        return []
    draws = Draws()
    score, sig, explored = score_candidates(cat, aud, strategy, channel, idx, now, rng, positions=pos, draws=draws)
    chosen = mmr(cat, idx, score, n, strategy.diversity)
    chance = propensities(strategy, idx, score, sig, draws, chosen, rng)
    names = feature_names(hub)
    recent = recent_rows(cat, aud) if "similarity" in sig and aud.recent_positive else None
    # The chosen values of each signal in one gather each (the same floats as indexing one at a time),
    # and the recommendation ids from one read of the OS's random source.
    at = np.asarray(chosen, dtype=np.int64)
    columns = {k: v.take(at).tolist() for k, v in sig.items()}
    rows = idx.take(at).tolist()
    scores = score.take(at).tolist()
    flags = explored.take(at).tolist()
    tokens = secrets.token_hex(8 * len(chosen))
    common = common_reasons(sig)
    picks = []
    for i, row in enumerate(rows):
        signals = {k: round(c[i], 4) for k, c in columns.items()}
        reasons = explain(
            cat,
            aud,
            strategy,
            row,
            signals,
            flags[i],
            channel,
            names,
            now,
            recent=recent,
            common=common,
            propensity=chance[i][0],
            exploring=chance[i][1],
        )
        # the reason dicts are validated into Reason models in the same (one) call
        picks.append(_pick(cat, row, scores[i], "r_" + tokens[16 * i : 16 * i + 16], chance[i][0], reasons, signals))
    return picks


def _pick(
    cat: Catalog,
    row: int,
    score: float,
    recommendation_id: str,
    propensity: float,
    reasons: list[Any],
    signals: dict[str, float],
) -> Pick:
    """A catalog row as the pick a bot reads: the asset's fields, its score and the chance it was picked."""
    doc = cat.docs[row]
    return Pick(
        asset_id=cat.ids[row],
        title=doc["title"],
        kind=doc.get("kind", ""),
        scenes=doc.get("scenes") or [],
        content_type=doc.get("content_type"),
        score=round(score, 4),
        recommendation_id=recommendation_id,
        reasons=reasons,
        signals=signals,
        propensity=round(propensity, 4),
    )


def _exclusions_and_caps(
    hub: Hub, profile: Profile, channel: str, now: datetime, aud: Audience
) -> tuple[bool, str | None, str | None]:
    if channel in profile.unsubscribed_channels:
        return (
            True,
            _("unsubscribed from {channel}").format(channel=feature_names(hub).get("ch:" + channel, channel)),
            None,
        )
    aud.exclude |= recently_delivered(profile.events, channel, redelivery_cutoff(hub, now))
    sent = caps.send_times(profile.events, channel)
    capped, why, reopen = caps.cap_status(hub, caps.get_rule(hub, channel), sent, now)
    return capped, why, to_iso(reopen) if reopen else None


def reserve_pick(hub: Hub, rec: Recommendation, now: datetime) -> Recommendation:
    """Keep the first pick whose asset and cap slot this caller wins; record it as served.

    Public because journeys narrow the picks first (a fixed asset, a content type) and then reserve."""
    return reserve_picks(hub, [rec], now)[0]


def reserve_picks(hub: Hub, recs: list[Recommendation], now: datetime) -> list[Recommendation]:
    """``reserve_pick`` for several recommendations at once (a journey's page of due sends): their cap slots
    in one round of writes, then their assets in one, then every served record in one ingestion batch.
    Each recommendation's slot and claim carry its recommendation id, so a replay of the same ids (after a
    crash) finds them its own instead of taking more."""
    on = [i for i, rec in enumerate(recs) if rec.picks]
    asks = [
        reservations.CapAsk(recs[i].target, caps.get_rule(hub, recs[i].channel), recs[i].picks[0].recommendation_id)
        for i in on
    ]
    taken = reservations.take_cap_slots(hub, asks, now)
    out = list(recs)
    slots = {i: held for i, (held, _full) in zip(on, taken, strict=True)}
    holding: list[int] = []
    for i, (_slots, full) in zip(on, taken, strict=True):
        if full:
            why = _("capped: {why}").format(why=full)
            out[i] = recs[i].model_copy(update={"picks": [], "capped": True, "reason": why})
        else:
            holding.append(i)
    won = reservations.take_assets(
        hub,
        [
            reservations.AssetAsk(
                recs[i].target, recs[i].channel, [(p.asset_id, p.recommendation_id) for p in recs[i].picks]
            )
            for i in holding
        ],
        now,
        hub.settings.redelivery_window_days,
    )
    served: list[dict[str, Any]] = []
    for i, j in zip(holding, won, strict=True):
        rec = recs[i]
        if j is None:
            reservations.release(hub, slots[i])
            why = _("every candidate is already reserved for this target")
            out[i] = rec.model_copy(update={"picks": [], "reason": why})
            continue
        pick = rec.picks[j]
        served.append(
            {
                "id": f"served-{pick.recommendation_id}",
                "type": "served",
                "group_id" if rec.target_kind == "group" else "user_id": rec.target,
                "asset_id": pick.asset_id,
                "channel": rec.channel,
                "recommendation_id": pick.recommendation_id,
                "ts": to_iso(now),
                "attributes": {"reserved": True, "propensity": pick.propensity, "strategy": rec.strategy},
            }
        )
        out[i] = rec.model_copy(update={"picks": [pick], "reserved": True})
    if served:
        events.ingest(hub, served)
    return out


class BatchAsk(NamedTuple):
    """One user's batch picks to reserve (``reserve_batch_block``): (catalog row, score, recommendation id)
    each, best first, and whether the batch explored for this user."""

    user_id: str
    picks: list[tuple[int, float, str]]
    explored: bool


def reserve_batch_block(
    hub: Hub,
    cat: Catalog,
    channel: str,
    scene: str | None,
    strategy: Strategy,
    asks: Sequence[BatchAsk],
    now: datetime,
    rng: np.random.Generator,
) -> list[Recommendation]:
    """Reserve a block of batch picks (``recommend.batch``) and log them as a request's are logged: each
    pick gets its propensity under the same exploration mixture as a request's (``ranking.propensities``,
    with the user's profile, exclusions and candidates as ``next_for_user`` reads them and the batch's own
    decision ``explored``), then ``reserve_picks`` keeps each user's first pick it wins and writes the
    served record with that propensity, which offline evaluation reads. The block's profiles are one store
    read and its reservations a few bulk writes (``reserve_picks``), not a read and writes per user."""
    profiles = load_profiles(hub, [a.user_id for a in asks], now=now)
    recs = [_batch_recommendation(hub, cat, profiles[a.user_id], channel, scene, strategy, a, now, rng) for a in asks]
    on = [i for i, rec in enumerate(recs) if rec.picks]
    for i, rec in zip(on, reserve_picks(hub, [recs[i] for i in on], now), strict=True):
        recs[i] = rec
    return recs


def _batch_recommendation(
    hub: Hub,
    cat: Catalog,
    profile: Profile,
    channel: str,
    scene: str | None,
    strategy: Strategy,
    ask: BatchAsk,
    now: datetime,
    rng: np.random.Generator,
) -> Recommendation:
    """One user's batch picks with their propensities, not yet reserved (no picks, with the reason, when
    none is a candidate any more)."""
    picks = ask.picks
    uid = profile.target  # a merged user's old id: the surviving user's profile
    aud = audience_for(hub, cat, profile, now)
    _exclusions_and_caps(hub, profile, channel, now, aud)
    idx, pos = candidate_rows(cat, channel, scene, now, aud.exclude)
    at = np.searchsorted(idx, [row for row, _s, _r in picks])
    on = [i for i, k in enumerate(at.tolist()) if k < idx.size and idx[k] == picks[i][0]]
    chance: list[tuple[float, bool]] = []
    if on:
        draws = Draws()
        score, sig, _flags = score_candidates(
            cat, aud, strategy, channel, idx, now, rng, positions=pos, draws=draws, explore=ask.explored
        )
        chance = propensities(strategy, idx, score, sig, draws, [int(at[i]) for i in on], rng)
    chosen = [
        _pick(cat, row, score_value, rec_id, p, [], {})
        for (row, score_value, rec_id), (p, _exploring) in zip((picks[i] for i in on), chance, strict=True)
    ]
    stage = profile.status.get("stage")
    rec = Recommendation(
        target=uid, target_kind="user", channel=channel, strategy=strategy.id, picks=chosen, stage=stage
    )
    if not chosen:  # the batch's picks are no longer candidates (sent or muted since the batch read the log)
        return rec.model_copy(update={"reason": _("every candidate is already reserved for this target")})
    return rec


def _strategy_for(hub: Hub, unit_kind: str, unit_id: str, requested: str) -> tuple[Strategy, Override | None]:
    """The requested strategy, unless a running experiment assigns this unit a variant that changes it."""
    strat = get_strategy(hub, requested)
    override = variants.strategy_override(hub, unit_kind, unit_id, requested=requested)
    if override is not None:
        strat = get_strategy(hub, override.strategy)
    return strat, override


class _Ask(NamedTuple):
    """What a request asks for, as ``next_for_user`` and ``next_for_group`` take it."""

    channel: str
    scene: str | None
    n: int
    now: datetime
    rng: np.random.Generator
    reserve: bool


def next_for_user(
    hub: Hub,
    user_id: str,
    channel: str,
    *,
    scene: str | None = None,
    n: int = 3,
    strategy: str = "default",
    now: datetime | None = None,
    seed: int | None = None,
    reserve: bool = False,
    found_profile: Profile | None = None,
) -> Recommendation:
    """``found_profile``: the user's profile as ``profiles.load_profiles`` read it, when the caller read it
    already (a page of journey sends reads its users' profiles in one store read). Without it the user's
    document is read with the rest of the profile, in one store read (``profiles.load_profile``)."""
    _validate(hub, channel, scene, n)
    now = now or utcnow()
    profile = found_profile if found_profile is not None else load_profile(hub, user_id=user_id, now=now)
    uid = profile.target  # a merged user's old id gets the surviving user's variant and profile
    strat, override = _strategy_for(hub, "user", uid, strategy)
    cat = catalog(hub)
    aud = audience_for(hub, cat, profile, now)
    no_pick = _("no eligible asset: none approved, valid now and not recently sent on this channel")
    ask = _Ask(channel, scene, n, now, _rng(seed), reserve)
    return _answer(hub, cat, profile, aud, ("user", uid, profile.status.get("stage")), strat, override, ask, no_pick)


async def read_for_user(hub: Hub, user_id: str, channel: str, *, scene: str | None, n: int, now: datetime) -> Profile:
    """What ``next_for_user`` reads of the store for one request (the user's profile), awaited: a caller on an
    event loop reads with this, then ranks with ``next_for_user(..., found_profile=)``, and serves other
    requests while the store answers. Bad input is refused before the read, as ``next_for_user`` does."""
    _validate(hub, channel, scene, n)
    return await read_user_profile(hub, user_id, now=now)


def _answer(
    hub: Hub,
    cat: Catalog,
    profile: Profile,
    aud: Audience,
    unit: tuple[str, str, str | None],
    strat: Strategy,
    override: Override | None,
    ask: _Ask,
    no_pick: str,
) -> Recommendation:
    """A user's or a group's request once its audience is known: exclusions and caps, ranking, substitutions,
    the experiment exposure, the reservation. ``unit``: (kind, id, stage)."""
    kind, target, stage = unit
    channel, scene, n, now, rng, reserve = ask
    capped, why, reopen = _exclusions_and_caps(hub, profile, channel, now, aud)
    base = {
        "target": target,
        "target_kind": kind,
        "channel": channel,
        "strategy": strat.id,
        "stage": stage,
        "variant": override.label if override else None,
    }
    if capped:
        return Recommendation(
            **base, picks=[], capped=True, reason=_("capped: {why}").format(why=why), next_allowed_at=reopen
        )
    picks = _rank(hub, cat, aud, strat, channel, scene, n, now, rng)
    picks = _with_substitutions(hub, kind, target, picks, now)
    if override is not None and picks:
        variants.log_exposure(hub, override, target, now)
    rec = Recommendation(**base, picks=picks, reason=None if picks else no_pick)
    return reserve_pick(hub, rec, now) if reserve and picks else rec


def next_for_group(
    hub: Hub,
    group_id: str,
    channel: str | None = None,
    *,
    scene: str | None = None,
    n: int = 3,
    strategy: str = "default",
    now: datetime | None = None,
    seed: int | None = None,
    reserve: bool = False,
) -> Recommendation:
    group = groups.get_group(hub, group_id)
    channel = channel or group.channel
    _validate(hub, channel, scene, n)
    now = now or utcnow()
    strat, override = _strategy_for(hub, "group", group_id, strategy)
    cat = catalog(hub)
    gprof = load_profile(hub, group_id=group_id, user_doc={"created_at": group.created_at}, now=now)
    aud, _ignored = group_audience(hub, cat, gprof, group_id, group.purpose, now)  # the kept profile: no member read
    no_pick = _("no eligible asset for this group on this channel")
    ask = _Ask(channel, scene, n, now, _rng(seed), reserve)
    return _answer(hub, cat, gprof, aud, ("group", group_id, aud.stage), strat, override, ask, no_pick)
