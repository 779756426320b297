"""Lifetime value: observed cumulative revenue per user, and a BG/NBD + Gamma-Gamma prediction.

The model comes from ``lifetimes`` (Fader, Hardie & Lee 2005 for BG/NBD; Fader & Hardie 2013 for
Gamma-Gamma), fitted on weekly periods built from the rollup:

- time 0 is the start of the week the user was first seen (acquisition, not first purchase, so that
  users who never bought are part of the population the model describes);
- a *purchase* is a week with at least one conversion (``frequency`` counts them; ``recency`` is the
  middle of the last such week; ``T`` the weeks from acquisition to the end of the calibration);
- the spend per purchase-week feeds Gamma-Gamma (fitted on buyers).

The fit is checked on held-out weeks: the model is fitted on all complete weeks but the last
``HOLDOUT_WEEKS``, predicts orders and revenue in those weeks for every user, and the error against
what happened is reported. It is then refitted on every complete week to predict ``HORIZON_WEEKS`` ahead.
The current (incomplete) week is never used.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import ConvergenceError

from contenthub.audience import users
from contenthub.dashboard.models import (
    HoldoutWeek,
    LtvCurve,
    LtvModel,
    ObservedLtv,
    UserValue,
)
from contenthub.dashboard.rollup import Rollup
from contenthub.dashboard.weeks import week_bounds, week_of, week_start, zone
from contenthub.errors import ConflictError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso, utcnow

log = logging.getLogger(__name__)

HOLDOUT_WEEKS = 4
HORIZON_WEEKS = 12
MIN_BUYERS = 5
PENALIZERS = (0.001, 0.01, 0.1)
MODEL_DOC = ("dashboard", "ltv_model")
_CACHE_KEY = "dashboard.ltv"
# what lifetimes raises on degenerate data (no repeat buyers, one spend value, overflowing likelihoods)
FIT_ERRORS = (ConvergenceError, ValueError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError)
TIER_SHARES = (("loyal", 0.10), ("quality", 0.20), ("normal", 0.40))  # of the alive users, by predicted value
MAX_USER_ORDERS = 100_000  # conversions read for one user's value (far beyond any real customer's)
ALIVE_MIN = 0.3  # below this probability of being alive the predicted tier is 'churned'


def observed(r: Rollup, by: str = "week", weeks: int = 12) -> ObservedLtv:
    """Mean cumulative revenue per user k weeks after first seen, per first-seen week or source channel.

    Summed week by week: week k adds the mean revenue in week k of the users who have reached it. For a
    first-seen-week cohort that is the plain mean of cumulative revenue; for a source channel (users of
    many ages) it keeps the curve from dipping when recent, not yet spending users drop out of later weeks."""
    if not r.user_ids:
        return ObservedLtv(
            by=by, weeks=weeks, curves=[], missing=_("No user activity yet: there is no revenue to add up.")
        )
    rel = r.first_week - r.week0
    if by == "week":
        groups = [(str(week_start(w)), r.first_week == w) for w in range(r.now_week - weeks, r.now_week + 1)]
    else:
        groups = [(k or "unknown", r.source == k) for k in sorted(set(r.source.tolist()))]
    curves = []
    for key, mask in groups:
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        values: list[float | None] = []
        total = 0.0
        for k in range(weeks + 1):
            cols = rel[idx] + k
            ok = (cols >= 0) & (cols < r.n_weeks)
            if not ok.any():
                values.append(None)
                continue
            total += float(r.revenue[idx[ok], cols[ok]].mean())
            values.append(round(total, 2))
        curves.append(LtvCurve(key=key, users=len(idx), cumulative=values))
    missing = None
    if not curves:
        missing = _("No users were first seen in the last {weeks} weeks.").format(weeks=weeks + 1)
    elif not float(r.revenue.sum()):
        missing = _("No conversions with a value yet: every cohort's revenue is 0 (send convert events with value).")
    return ObservedLtv(by=by, weeks=weeks, curves=curves, missing=missing)


def _summary(r: Rollup, end: int) -> dict[str, np.ndarray]:
    """Per-user BG/NBD inputs over columns [.., end): users first seen before ``end``."""
    first = np.maximum(r.first_week - r.week0, 0)
    users_ = np.flatnonzero(first < end)
    bought = r.orders[users_, :end] > 0
    cols = np.arange(end)
    frequency = bought.sum(axis=1).astype(float)
    last = np.where(bought, cols, -1).max(axis=1) if end else np.full(len(users_), -1)
    f = first[users_]
    recency = np.where(frequency > 0, last - f + 0.5, 0.0)
    spend = r.revenue[users_, :end].sum(axis=1)
    monetary = np.where(frequency > 0, spend / np.maximum(frequency, 1), 0.0)
    return {
        "users": users_,
        "frequency": frequency,
        "recency": recency,
        "T": (end - f).astype(float),
        "monetary": monetary,
    }


def _fit(s: dict[str, np.ndarray]) -> tuple[BetaGeoFitter, GammaGammaFitter]:
    """Both models, each with the smallest of PENALIZERS that converges (lifetimes' own advice when the
    optimiser stops short). lifetimes prints the optimiser's state to stdout when it does not converge;
    that is captured (it would corrupt a CLI's JSON output) and only the error is kept."""
    buyers = (s["frequency"] > 0) & (s["monetary"] > 0)
    bg = _converged(lambda pen: BetaGeoFitter(penalizer_coef=pen).fit(s["frequency"], s["recency"], s["T"]))
    gg = _converged(lambda pen: GammaGammaFitter(penalizer_coef=pen).fit(s["frequency"][buyers], s["monetary"][buyers]))
    return bg, gg


def _converged(fit: Any) -> Any:
    error: Exception | None = None
    for pen in PENALIZERS:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                return fit(pen)
        except ConvergenceError as exc:
            error = exc
    assert error is not None
    raise error


def _spend(gg: GammaGammaFitter, frequency: np.ndarray, monetary: np.ndarray, buyer_mean: float) -> np.ndarray:
    """Expected spend per purchase-week: Gamma-Gamma's conditional mean for buyers; ``buyer_mean`` (the
    mean observed spend per purchase-week of buyers) for users with no purchase yet. Why not Gamma-Gamma's
    population mean p·v/(q−1) for them: with little spread between buyers q comes out near 1 and that
    mean several times any observed spend (seen on the demo data: 3× the held-out revenue)."""
    p, q, v = (float(gg.params_[k]) for k in ("p", "q", "v"))
    x = frequency
    conditional = (p * v + x * monetary * p) / (p * x + q - 1)
    return np.where(x > 0, conditional, buyer_mean)


def _buyer_mean(s: dict[str, np.ndarray]) -> float:
    buyers = s["frequency"] > 0
    return float(s["monetary"][buyers].mean()) if buyers.any() else 0.0


def model(hub: Hub, r: Rollup) -> tuple[LtvModel, dict[str, Any]]:
    """The fitted model with its held-out check, and the per-user predictions (cached with the rollup)."""
    cached = hub.cache.get(_CACHE_KEY)
    if cached is not None and cached[2] is r:
        return cached[0], cached[1]
    fitted = _model(r)
    hub.cache[_CACHE_KEY] = (*fitted, r)
    if fitted[0].missing is None:
        hub.store.put_doc(
            *MODEL_DOC,
            fitted[0].model_dump() | {"cutoffs": fitted[1]["cutoffs"], "buyer_mean": fitted[1]["buyer_mean"]},
        )
    return fitted


def _model(r: Rollup) -> tuple[LtvModel, dict[str, Any]]:
    complete = r.n_weeks - 1  # columns of complete weeks
    base: dict[str, Any] = {
        "model": "BG/NBD + Gamma-Gamma (lifetimes)",
        "fitted_at": to_iso(r.built_at),
        "users": 0,
        "buyers": 0,
        "calibration_weeks": 0,
        "holdout_weeks": HOLDOUT_WEEKS,
        "horizon_weeks": HORIZON_WEEKS,
        "params": {},
        "holdout": [],
        "orders_error": None,
        "revenue_error": None,
        "user_mae_orders": None,
    }
    empty = {"users": np.zeros(0, dtype=np.int64), "value": np.zeros(0), "alive": np.zeros(0), "cutoffs": {}}
    calib_end = complete - HOLDOUT_WEEKS
    if calib_end < 2:
        return LtvModel(
            **base,
            missing=_(
                "Need at least {need} complete weeks of activity to fit and check the model; there are {have}."
            ).format(need=HOLDOUT_WEEKS + 2, have=max(complete, 0)),
        ), empty
    cal = _summary(r, calib_end)
    buyers = int(((cal["frequency"] > 0) & (cal["monetary"] > 0)).sum())
    if buyers < MIN_BUYERS or not (cal["frequency"] > 1).any():
        return LtvModel(
            **{**base, "users": len(cal["users"]), "buyers": buyers},
            missing=(
                _(
                    "Too few purchases to fit a value model: {buyers} users bought before the held-out weeks (need {need}, "
                    "some more than once). Send convert events with a value."
                ).format(buyers=buyers, need=MIN_BUYERS)
            ),
        ), empty
    try:
        bg, gg = _fit(cal)
    except FIT_ERRORS as exc:
        log.warning("LTV calibration fit failed: %s", exc)
        # the fitting library's own words (English, about penalizers) go to the log, not to the operator
        return LtvModel(
            **base,
            missing=_(
                "The value model did not converge on this data: there are too few repeat "
                "purchases to tell buyers apart. Predictions appear once more orders come in."
            ),
        ), empty
    holdout: list[HoldoutWeek] = []
    spend = _spend(gg, cal["frequency"], cal["monetary"], _buyer_mean(cal))
    prev = np.zeros(len(cal["users"]))
    total_pred_orders = np.zeros(len(cal["users"]))
    for k in range(1, HOLDOUT_WEEKS + 1):
        upto = np.asarray(
            bg.conditional_expected_number_of_purchases_up_to_time(k, cal["frequency"], cal["recency"], cal["T"]),
            dtype=float,
        )
        step = upto - prev
        prev = upto
        col = calib_end + k - 1
        obs_orders = r.orders[cal["users"], col] > 0
        holdout.append(
            HoldoutWeek(
                week=str(week_start(r.week0 + col)),
                observed_revenue=round(float(r.revenue[cal["users"], col].sum()), 2),
                predicted_revenue=round(float((step * spend).sum()), 2),
                observed_orders=int(obs_orders.sum()),
                predicted_orders=round(float(step.sum()), 2),
            )
        )
        total_pred_orders = upto
    actual_orders = (r.orders[cal["users"], calib_end:complete] > 0).sum(axis=1)
    obs_o = sum(h.observed_orders for h in holdout)
    obs_r = sum(h.observed_revenue for h in holdout)
    pred_o = sum(h.predicted_orders for h in holdout)
    pred_r = sum(h.predicted_revenue for h in holdout)
    full = _summary(r, complete)
    try:
        bg_all, gg_all = _fit(full)
    except FIT_ERRORS as exc:
        log.warning("LTV fit failed: %s", exc)
        # the fitting library's own words (English, about penalizers) go to the log, not to the operator
        return LtvModel(
            **base,
            missing=_(
                "The value model did not converge on this data: there are too few repeat "
                "purchases to tell buyers apart. Predictions appear once more orders come in."
            ),
        ), empty
    buyer_mean = _buyer_mean(full)
    value, alive = _predict(bg_all, gg_all, full["frequency"], full["recency"], full["T"], full["monetary"], buyer_mean)
    cutoffs = _cutoffs(value, alive)
    tiers = _tier_of(value, alive, cutoffs)
    names, counts = np.unique(tiers, return_counts=True)
    params = {k: round(float(v), 6) for k, v in {**bg_all.params_.to_dict(), **gg_all.params_.to_dict()}.items()}
    fitted = LtvModel(
        **{
            **base,
            "users": len(full["users"]),
            "buyers": int((full["frequency"] > 0).sum()),
            "calibration_weeks": calib_end,
            "params": params,
            "holdout": holdout,
            "orders_error": round((pred_o - obs_o) / obs_o, 4) if obs_o else None,
            "revenue_error": round((pred_r - obs_r) / obs_r, 4) if obs_r else None,
            "user_mae_orders": round(float(np.abs(total_pred_orders - actual_orders).mean()), 4),
        },
        tiers={str(n): int(c) for n, c in zip(names, counts, strict=True)},
        predicted_total=round(float(value.sum()), 2),
    )
    return fitted, {
        "users": full["users"],
        "value": value,
        "alive": alive,
        "cutoffs": cutoffs,
        "buyer_mean": buyer_mean,
    }


def _predict(
    bg: BetaGeoFitter,
    gg: GammaGammaFitter,
    frequency: np.ndarray,
    recency: np.ndarray,
    t: np.ndarray,
    monetary: np.ndarray,
    buyer_mean: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected revenue over HORIZON_WEEKS and the probability of being alive, per user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        orders = np.asarray(
            bg.conditional_expected_number_of_purchases_up_to_time(HORIZON_WEEKS, frequency, recency, t), dtype=float
        )
        alive = np.asarray(bg.conditional_probability_alive(frequency, recency, t), dtype=float)
    value = np.nan_to_num(orders * _spend(gg, frequency, monetary, buyer_mean), nan=0.0, posinf=0.0, neginf=0.0)
    return np.maximum(value, 0.0), np.nan_to_num(alive, nan=0.0)


def _cutoffs(value: np.ndarray, alive: np.ndarray) -> dict[str, float]:
    """Predicted-value thresholds of each tier among the users likely alive (top 10% loyal, next 20%
    quality, next 40% normal, the rest low_frequency); stored with the model so one user's tier, read
    later, matches the population's."""
    live = np.sort(value[alive >= ALIVE_MIN])[::-1]
    out: dict[str, float] = {}
    share = 0.0
    for name, part in TIER_SHARES:
        share += part
        out[name] = float(live[min(len(live) - 1, int(share * len(live)))]) if len(live) else float("inf")
    return out


def _tier_of(value: np.ndarray, alive: np.ndarray, cutoffs: dict[str, float]) -> np.ndarray:
    """Compared in whole cents: many users share a value (same history), and one user's value computed
    alone (``user_value``) must land on the same side of a cut-off as in the population."""
    tiers = np.full(len(value), "low_frequency", dtype=object)
    cents = np.round(value, 2)
    for name, _ignored in reversed(TIER_SHARES):
        tiers = np.where(cents > round(cutoffs[name], 2), name, tiers)
    return np.where(alive < ALIVE_MIN, "churned", tiers)


def tiers(hub: Hub, r: Rollup) -> np.ndarray:
    """Every rollup user's tier from predicted value ('unknown' when no model could be fitted or the
    user was first seen this week)."""
    _ignored, pred = model(hub, r)
    if "all_tiers" not in pred:  # once per fitted model (the cache lives as long as the rollup)
        out = np.full(len(r.user_ids), "unknown", dtype=object)
        if len(pred["users"]):
            out[pred["users"]] = _tier_of(pred["value"], pred["alive"], pred["cutoffs"])
        pred["all_tiers"] = out
    return pred["all_tiers"]


def user_value(hub: Hub, user_id: str) -> UserValue:
    """A user's predicted value and tier from the stored model and the user's own events — the
    documented way for segments, journeys and the recommender to read predicted value without the
    dashboard's rollup (``write_attributes`` also copies it onto the user as attributes)."""
    doc = users.find_user(hub, user_id)
    if doc is None:
        raise NotFoundError(_("No user '{user_id}'.").format(user_id=user_id), field="user_id", value=user_id)
    stored = hub.store.get_doc(*MODEL_DOC)
    if stored is None:
        raise NotFoundError(
            _(
                "No value model has been fitted yet: open the LTV dashboard or run "
                "`contenthub dashboard refresh` once there are purchases."
            ),
            field="model",
        )
    tz = zone(hub)
    now_week = week_of(utcnow(), tz)
    oldest = hub.store.query_events(EventQuery(user_ids=(doc["id"],), limit=1, newest_first=False))
    first = min(week_of(from_iso(oldest[0]["ts"]), tz), now_week) if oldest else now_week
    per_week: dict[int, tuple[float, float]] = {}
    until = week_bounds(now_week, tz)[0]  # complete weeks only, as the model was fitted
    for ev in hub.store.query_events(
        EventQuery(user_ids=(doc["id"],), types=("convert",), until=until, limit=MAX_USER_ORDERS)
    ):
        week = week_of(from_iso(ev["ts"]), tz)
        o, v = per_week.get(week, (0.0, 0.0))
        per_week[week] = (o + 1, v + float(ev.get("value") or 0.0))
    buy = sorted(w for w, (orders, _value) in per_week.items() if orders > 0)
    revenue = sum(value for _orders, value in per_week.values())
    params = stored["params"]
    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series({k: params[k] for k in ("r", "alpha", "a", "b")})
    gg.params_ = pd.Series({k: params[k] for k in ("p", "q", "v")})
    freq = np.array([float(len(buy))])
    t = np.array([float(max(now_week - first, 0))])
    if t[0] <= 0:
        return UserValue(
            user_id=doc["id"],
            observed_revenue=round(revenue, 2),
            predicted_value=0.0,
            probability_alive=None,
            predicted_tier="unknown",
            horizon_weeks=HORIZON_WEEKS,
        )
    rec = np.array([buy[-1] - first + 0.5 if buy else 0.0])
    monetary = np.array([revenue / len(buy) if buy else 0.0])
    predicted, alive = _predict(bg, gg, freq, rec, t, monetary, stored["buyer_mean"])
    tier = str(_tier_of(predicted, alive, stored["cutoffs"])[0])
    return UserValue(
        user_id=doc["id"],
        observed_revenue=round(revenue, 2),
        predicted_value=round(float(predicted[0]), 2),
        probability_alive=round(float(alive[0]), 4),
        predicted_tier=tier,
        horizon_weeks=HORIZON_WEEKS,
    )


def write_attributes(hub: Hub, r: Rollup) -> int:
    """Copy predicted value and tier onto each user's attributes (``predicted_value``, ``predicted_tier``),
    where segments (``attr.predicted_tier``) and the recommender's user document see them. Each write is
    guarded by the document version, so a concurrent edit of the user is never overwritten (it is retried)."""
    pred = model(hub, r)[1]
    written = 0
    tiers_: Any = _tier_of(pred["value"], pred["alive"], pred["cutoffs"]) if len(pred["users"]) else []
    for i, value, tier in zip(pred["users"], pred["value"], tiers_, strict=True):
        uid = r.user_ids[int(i)]
        for _attempt in range(3):
            found = hub.store.get_doc_version(users.USERS, uid)
            if found is None or found[0].get("merged_into"):
                break
            doc, version = found
            attrs = dict(doc.get("attributes") or {})
            attrs.update(predicted_value=round(float(value), 2), predicted_tier=str(tier))
            try:
                hub.store.put_doc(users.USERS, uid, {**doc, "attributes": attrs}, expected_version=version)
            except ConflictError:  # someone saved the user in between: read it again
                continue
            written += 1
            break
    return written
