"""Offline ranking with the production scoring code, minus the rules that only make sense live.

``next_for_user`` also applies the redelivery window, channel caps, experiment overrides and writes
explanations — right for serving, wrong for an offline protocol that fixes the candidate set itself.
This entry point runs the same profile → audience → ``score_candidates`` → MMR path over the
candidates it is given, so what is measured is what serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from contenthub.audience import users
from contenthub.audience.profiles import load_profile
from contenthub.hub import Hub
from contenthub.recommend.audiences import audience_for
from contenthub.recommend.catalog import catalog
from contenthub.recommend.ranking import candidate_mask, mmr, score_candidates
from contenthub.recommend.strategies import get_strategy
from contenthub.timeutil import utcnow


def rank_for_evaluation(
    hub: Hub,
    user_id: str,
    channel: str,
    candidates: Sequence[str],
    *,
    n: int = 10,
    strategy: str = "default",
    now: datetime | None = None,
    seed: int = 0,
) -> list[str]:
    """The top ``n`` of ``candidates`` (asset ids) for the user as the production ranking orders them.

    The user's own exclusions (muted / deleted assets) and the channel and validity filters still
    apply; candidates the catalog does not hold are dropped.
    """
    now = now or utcnow()
    strat = get_strategy(hub, strategy)
    cat = catalog(hub)
    user_doc = users.find_user(hub, user_id)
    uid = user_doc["id"] if user_doc else user_id
    profile = load_profile(hub, user_id=uid, user_doc=user_doc, now=now)
    aud = audience_for(hub, cat, profile, now)
    allowed = candidate_mask(cat, channel, None, now, aud.exclude)
    rows = np.fromiter((cat.index[a] for a in candidates if a in cat.index), dtype=np.int64)
    idx = np.sort(rows[allowed[rows]]) if rows.size else rows
    if idx.size == 0:
        return []
    score, _, _ = score_candidates(cat, aud, strat, channel, idx, now, np.random.default_rng(seed))
    return [cat.ids[int(idx[j])] for j in mmr(cat, idx, score, n, strat.diversity)]
