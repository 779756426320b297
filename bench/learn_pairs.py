"""Bench: how the learning job's within-user comparison ranks a kept hub's deliveries (issue 18; a diagnosis).

For the newest window of a hub's events (``learning.replay_deliveries``), the share of within-user pairs (one
user's engaged delivery against the same user's ignored one) that the built-in default weights, each signal
alone, and a fit on the older pairs order right, two ways:
- ``own_request``: each delivery scored in its own request (what the job compared up to learn-18e);
- ``earlier_request``: both scored in the earlier of the two requests (what it compares now).
A delivery's personal signals hold the user's earlier outcomes, so scored in its own request an engaged
delivery looks worse than the user's others (Nickell's bias); the first figure shows how much.

Prints JSON. Usage: python bench/learn_pairs.py DATA_DIR   (a ``bench/simulate.py --keep`` seed directory)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from contenthub.config import Settings
from contenthub.hub import open_hub
from contenthub.recommend import learning
from contenthub.recommend.catalog import catalog
from contenthub.recommend.strategies import DEFAULTS, RATE_SIGNALS, SIGNALS
from contenthub.store.query import EventQuery


def own_request_pairs(x: np.ndarray, y: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Engaged-minus-ignored signals of every within-user pair, each delivery scored in its own request."""
    out = []
    for u in np.unique(users):
        mine = np.flatnonzero(users == u)
        pos, neg = mine[y[mine]], mine[~y[mine]]
        out.extend(x[i] - x[j] for i in pos for j in neg)
    return np.array(out).reshape(-1, x.shape[1])


def shares(d: np.ndarray, fitted: np.ndarray) -> dict[str, float]:
    base = np.array([DEFAULTS["default"].weight(s) for s in SIGNALS])
    row = {"pairs": int(d.shape[0]), "built_in": learning.pair_auc(d, base), "fit": learning.pair_auc(d, fitted)}
    row.update({s: learning.pair_auc(d, np.eye(len(SIGNALS))[j]) for j, s in enumerate(SIGNALS)})
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    args = ap.parse_args()
    hub = open_hub(Settings(data_dir=args.data_dir))
    try:
        evs = hub.store.query_events(EventQuery(limit=learning.MAX_EVENTS, newest_first=True))
        evs.reverse()
        cat = catalog(hub)
        found = learning.replay_deliveries(hub, cat, evs, rate_prior=learning.audience_strengths(cat, evs))
    finally:
        hub.close()
    n = len(found.ts)
    split = found.ts[int(n * (1 - learning.HOLDOUT))]
    pairs = found.pairs
    held = np.array([t >= split for t in pairs.later_ts], dtype=bool)
    fixed = np.array([s in RATE_SIGNALS for s in SIGNALS])
    centre = np.where(fixed, 1.0, [DEFAULTS["default"].weight(s) for s in SIGNALS])
    fitted, _ = learning.fit_pairs(pairs.d[~held], pairs.weight[~held], centre, fixed=fixed)
    own = own_request_pairs(found.x - found.context, found.engaged, np.array(found.users))
    print(
        json.dumps(
            {
                "bench": "learn_pairs",
                "deliveries": n,
                "engaged_share": round(float(found.engaged.mean()), 4),
                "own_request_all": shares(own, fitted),
                "earlier_request_train": shares(pairs.d[~held], fitted),
                "earlier_request_held_out": shares(pairs.d[held], fitted),
                "fitted_weights": {s: round(float(v), 3) for s, v in zip(SIGNALS, fitted, strict=True)},
            }
        )
    )


if __name__ == "__main__":
    main()
