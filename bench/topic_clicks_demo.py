"""Demo: one user's clicks on one topic move that user's next picks to it, and the reasons say so (issue 18).

A fresh served hub (``contenthub serve``, keys from ``contenthub keys create``) gets the simulator's Chinese
library (``bench/sim_world.py``, one seed, ``--assets`` assets). The script then does what a bot would do
with curl, and prints each request with the part of the answer that matters:

1. ten times ``GET /v1/recommendations/users/demo-user?channel=wecom_1v1&n=1`` — a user the hub has never
   seen (a GET without ``reserve`` changes nothing, so each answer is a fresh draw of the policy);
2. ``POST /v1/events`` — three deliveries of one topic's assets, each clicked, and three deliveries of other
   topics' assets, ignored (one a day over the last six days, so today's 1-a-day cap stays free);
3. the same GET again: the picks' topics and their reasons.

Prints JSON on stdout: for both answers each pick's topic (the simulator's topic tag; the reasons name
the hub's own discovered topic) and its reasons, and the share of the picks on the clicked topic before
and after. Usage:
``python bench/topic_clicks_demo.py [--assets 120] [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sim_world import CHANNEL, TOPICS, make_world
from simulate import Bot, check, create_key, serving

from contenthub.timeutil import to_iso, utcnow

USER = "demo-user"


ASKS = 10


def picks_of(client: httpx.Client, topic_of: dict[str, str]) -> list[dict[str, Any]]:
    """``ASKS`` answers of ``n=1`` (a GET without ``reserve`` changes nothing, so each is a fresh draw of the
    policy: their topics show the probability of each pick, not one draw's luck)."""
    out = []
    for _ in range(ASKS):
        ans = check(client.get(f"/v1/recommendations/users/{USER}", params={"channel": CHANNEL, "n": 1}), "GET")
        out += [
            {
                "asset_id": p["asset_id"],
                "title": p["title"],
                "topic": topic_of[p["asset_id"]],
                "reasons": [f"{r['kind']}: {r['detail']}" for r in p["reasons"]],
            }
            for p in ans["picks"]
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    world = make_world(args.seed, args.assets, 10)
    topic_of = {a["id"]: TOPICS[world.topic[i]][1] for i, a in enumerate(world.assets)}
    on_channel = [i for i in range(len(world.assets)) if world.on_channel[i]]
    data_dir = Path(tempfile.mkdtemp(prefix="contenthub-demo-"))
    try:
        keys = {role: create_key(data_dir, role) for role in ("admin", "editor", "bot")}
        with serving(data_dir, keys["admin"]) as url:
            bot = Bot(url, keys, 1, "default")
            bot.import_library(world, args.seed)
            client = bot.clients["bot"]
            before = picks_of(client, topic_of)
            # the topic to click: the one the first answer picked least (so the move is visible)
            counts = {t: sum(p["topic"] == t for p in before) for _, t, _ in TOPICS}
            clicked = min(
                (t for t in counts if sum(topic_of[world.assets[i]["id"]] == t for i in on_channel) >= 8),
                key=lambda t: (counts[t], t),
            )
            mine = [world.assets[i]["id"] for i in on_channel if topic_of[world.assets[i]["id"]] == clicked][:3]
            others = [world.assets[i]["id"] for i in on_channel if topic_of[world.assets[i]["id"]] != clicked][:3]
            now = utcnow()
            events: list[dict[str, Any]] = []
            for k, aid in enumerate(mine + others):
                at = now - timedelta(days=6 - k, hours=1)  # earlier days: today's 1-a-day cap stays free
                base = {"user_id": USER, "asset_id": aid, "channel": CHANNEL}
                events.append({**base, "id": f"demo-d{k}", "type": "delivered", "ts": to_iso(at)})
                if aid in mine:
                    events.append(
                        {**base, "id": f"demo-c{k}", "type": "click", "ts": to_iso(at + timedelta(minutes=3))}
                    )
            posted = check(client.post("/v1/events", json={"events": events}), "POST /v1/events")
            after = picks_of(client, topic_of)
            bot.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    share = {
        k: round(sum(p["topic"] == clicked for p in v) / max(len(v), 1), 2)
        for k, v in (("before", before), ("after", after))
    }
    print(
        json.dumps(
            {
                "requests": [
                    f"{ASKS} × GET /v1/recommendations/users/{USER}?channel={CHANNEL}&n=1",
                    (
                        f"POST /v1/events ({len(events)} events: 3 deliveries of「{clicked}」assets clicked, "
                        "3 deliveries of other topics ignored)"
                    ),
                    f"{ASKS} × GET /v1/recommendations/users/{USER}?channel={CHANNEL}&n=1",
                ],
                "clicked_topic": clicked,
                "events_accepted": posted.get("accepted"),
                "share_of_picks_on_clicked_topic": share,
                "before": before,
                "after": after,
            },
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
