"""Lifecycle stage and value tier from configurable rules (RFM-style), never hard-coded per brand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from contenthub import doccache
from contenthub.audience.engagement import ENGAGED
from contenthub.hub import Hub
from contenthub.timeutil import from_iso, to_iso

COLLECTION = "settings"
DOC_ID = "lifecycle_rules"


MAX_DAYS = 3650
"""Longest day count a lifecycle rule may name (ten years): a rule of 23 billion days is a typo, not a policy."""


class LifecycleRules(BaseModel):
    new_days: int = Field(
        default=14, ge=1, le=MAX_DAYS, description="Users first seen within this many days are 'new'."
    )
    active_days: int = Field(
        default=14, ge=1, le=MAX_DAYS, description="Engaged within this many days: 'active' or 'stable'."
    )
    stable_min_engaged_days: int = Field(
        default=6, ge=1, le=MAX_DAYS, description="Distinct engaged days (90d) to be 'stable'."
    )
    silent_days: int = Field(default=30, ge=1, le=MAX_DAYS, description="No engagement for this long: 'silent'.")
    churned_days: int = Field(
        default=90, ge=1, le=MAX_DAYS, description="No engagement for this long (or unsubscribed): 'churned'."
    )
    loyal_min_orders: int = Field(default=3, ge=1, le=1_000_000)
    quality_min_engaged_days: int = Field(default=4, ge=1, le=MAX_DAYS)
    low_frequency_max_engaged_days: int = Field(default=1, ge=0, le=MAX_DAYS)
    stage_scenes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "new": ["onboarding", "first_order", "education", "tutorial"],
            "active": ["seeding", "education", "membership", "referral", "live_preview", "first_order"],
            "stable": ["repurchase", "membership", "referral", "aftersales", "seeding"],
            "silent": ["reactivation", "holiday", "membership"],
            "churned": ["winback", "reactivation"],
        },
        description="Scenes that fit each stage (lifecycle fit in ranking).",
    )
    purpose_scenes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "broadcast": ["holiday", "seeding", "live_preview", "education"],
            "conversion": ["first_order", "repurchase", "seeding", "live_preview"],
            "welfare": ["membership", "referral", "holiday"],
            "community": ["education", "tutorial", "aftersales"],
        },
        description="Scenes that fit each group purpose: a group's lifecycle fit in ranking is its purpose's fit.",
    )


def get_rules(hub: Hub) -> LifecycleRules:
    """The stored rules (memoised per process: ``put_rules`` here is seen at once, a change made by another
    process within ``doccache.TTL`` seconds). Shared between requests: treat as read-only."""
    return doccache.cached(
        hub, DOC_ID, None, lambda: LifecycleRules.model_validate(hub.store.get_doc(COLLECTION, DOC_ID) or {})
    )


def put_rules(hub: Hub, rules: LifecycleRules) -> LifecycleRules:
    hub.store.put_doc(COLLECTION, DOC_ID, rules.model_dump())
    hub.touch(DOC_ID)
    return rules


STAGES = ("new", "active", "stable", "silent", "churned")
"""Stage names; ``stages_of`` answers with indexes into this tuple."""


def _stage_tests(
    rules: LifecycleRules, days_since: Any, age_days: Any, unsubscribed: Any, engaged_days: Any, has_orders: Any
) -> tuple[Any, Any, Any, Any]:
    """(churned, new, silent, stable), tested in this order (else 'active'): the one rule, written with
    operators that mean the same for one user's Python numbers and for numpy arrays of many users.
    ``days_since`` is NaN for a user who never engaged (NaN compares False with everything)."""
    never = days_since != days_since  # NaN
    churned = unsubscribed | (days_since > rules.churned_days) | (never & (age_days > rules.churned_days))
    silent = never | (days_since > rules.silent_days)
    stable = (days_since <= rules.active_days) & (engaged_days >= rules.stable_min_engaged_days) & has_orders
    return churned, age_days <= rules.new_days, silent, stable


def stage_of(
    rules: LifecycleRules,
    *,
    days_since: float | None,
    age_days: float,
    unsubscribed: bool,
    engaged_days: int,
    has_orders: bool,
) -> str:
    """The lifecycle stage from a user's summary figures: the one rule ``classify``, the batch ranker
    (``stages_of``) and the dashboard's week-by-week flows (which know users by weekly counters, not
    event lists) all apply."""
    tests = _stage_tests(
        rules,
        float("nan") if days_since is None else float(days_since),
        float(age_days),
        bool(unsubscribed),
        int(engaged_days),
        bool(has_orders),
    )
    for code, hit in zip(_STAGE_ORDER, tests, strict=True):
        if hit:
            return STAGES[code]
    return "active"


_STAGE_ORDER = (4, 0, 3, 2)  # the stages ``_stage_tests`` tests for: churned, new, silent, stable


def stages_of(
    rules: LifecycleRules,
    *,
    days_since: np.ndarray,
    age_days: np.ndarray,
    unsubscribed: np.ndarray,
    engaged_days: np.ndarray,
    has_orders: np.ndarray,
) -> np.ndarray:
    """``stage_of`` for many users at once (index into ``STAGES``); ``days_since`` is NaN for a user who
    never engaged."""
    with np.errstate(invalid="ignore"):
        tests = _stage_tests(rules, days_since, age_days, unsubscribed, engaged_days, has_orders)
    return np.select(list(tests), list(_STAGE_ORDER), default=1)


def classify(
    rules: LifecycleRules, first_seen: str | None, events: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """Stage, value tier and paying flag from a user's recent events (newest first)."""
    engaged = [e for e in events if e["type"] in ENGAGED]
    last = from_iso(engaged[0]["ts"]) if engaged else None
    days_since = (now - last).total_seconds() / 86400 if last else None
    age_days = (now - from_iso(first_seen)).total_seconds() / 86400 if first_seen else 0.0
    # ``(now - ts).days <= 90`` is ``ts > now - 91 days``; stored stamps (one UTC format) compare as
    # strings as they do as times, so no stamp is parsed here.
    recent_cutoff = to_iso(now - timedelta(days=91))
    engaged_days = len({e["ts"][:10] for e in engaged if e["ts"] > recent_cutoff})
    orders = [e for e in events if e["type"] == "convert"]
    revenue = sum(float(e.get("value") or 0) for e in orders)
    unsubscribed = any(e["type"] == "unsubscribe" for e in events)
    stage = stage_of(
        rules,
        days_since=days_since,
        age_days=age_days,
        unsubscribed=unsubscribed,
        engaged_days=engaged_days,
        has_orders=bool(orders),
    )
    if stage == "churned":
        tier = "churned"
    elif len(orders) >= rules.loyal_min_orders and days_since is not None and days_since <= rules.active_days:
        tier = "loyal"
    elif engaged_days >= rules.quality_min_engaged_days:
        tier = "quality"
    elif engaged_days <= rules.low_frequency_max_engaged_days:
        tier = "low_frequency"
    else:
        tier = "normal"
    return {
        "stage": stage,
        "tier": tier,
        "paying": bool(orders and revenue > 0),
        "orders": len(orders),
        "revenue": round(revenue, 2),
        "engaged_days_90": engaged_days,
        "days_since_engaged": round(days_since, 1) if days_since is not None else None,
    }
