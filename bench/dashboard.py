"""Bench: the operations dashboard's views at scale, on SQLite and Elasticsearch in the same run.

A deterministic world (seeded): ``--users`` users arriving over 16 weeks on five channels, each with a
send intensity, a lifetime after which they mostly stop engaging (some come back), opens that fall and
mutes that rise with the sends of the week (send fatigue), and purchases with a value. ``--events`` events
in all, stored by ``Store.add_events`` with the deriver ingestion applies after validation (the profile
and asset counters, ``engagement.counter_deltas``; the dashboard adds none), in batches of 10,000.

Per run (backend, users, events — several in one process, one after the other) it times: loading; the
rollup build (cold: one ``Store.event_counts`` aggregation per week of the hub's zone over the event log);
the value-model fit (cold, BG/NBD + Gamma-Gamma); then every dashboard view warm — the service call and
the HTTP page or JSON endpoint through the app (median and max of ``--repeat`` runs) — and, for contrast,
one aggregation over the whole event log (by channel and type: SQL GROUP BY / an ES composite
aggregation), which is what each view would cost without the rollup.

Usage:
    python bench/dashboard.py [--runs sqlite:100000:5000000,elasticsearch:20000:1000000] [--es-url URL]
                              [--keep-root DIR] [--es-prefix NAME] [--load-only]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from contenthub.access import keys
from contenthub.app import create_app
from contenthub.audience import users
from contenthub.audience.engagement import counter_deltas
from contenthub.config import Settings
from contenthub.dashboard import ltv, rollup, service
from contenthub.hub import Hub, open_hub
from contenthub.store.copy import copy_store
from contenthub.store.query import EventQuery
from contenthub.store.sqlite import SQLiteStore
from contenthub.timeutil import to_iso, utcnow

BATCH = 10_000
N_ASSETS = 2000
WEEKS = 16
CHANNELS = ["wecom_1v1", "mp_subscription", "wecom_group", "moments", "app_push"]
SOURCES = ["wecom_1v1", "mp_subscription", "xiaohongshu", "douyin", "miniprogram"]
SCENES = ["onboarding", "first_order", "repurchase", "reactivation", "winback", "education", "membership"]
CTYPES = ["educational", "practical", "entertainment", "promotional", "brand_story"]
HALF_LIFE = 30.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_assets() -> list[dict[str, Any]]:
    rng = random.Random(3)
    now = to_iso(utcnow())
    return [
        {
            "id": f"b{i:05d}",
            "title": f"素材 {i}",
            "status": "approved",
            "kind": "article",
            "content_type": rng.choice(CTYPES),
            "scenes": [rng.choice(SCENES)],
            "channels": CHANNELS,
            "tags": [],
            "created_at": now,
            "updated_at": now,
        }
        for i in range(N_ASSETS)
    ]


def make_world(
    n_users: int, n_events: int, seed: int = 7, prefix: str = "x"
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(user docs, events) per block of users; stops at ``n_events`` events. Another ``seed`` and ``prefix``
    give a second stream of sends to the same users (``load`` adds passes until it has ``n_events``)."""
    rng = random.Random(seed)
    now = utcnow()
    start = now - timedelta(weeks=WEEKS)
    per_user = n_events / n_users
    # deliveries per user-week ≈ intensity; events per delivery ≈ 1.45; weeks alive ≈ WEEKS / 2
    scale = per_user / (1.45 * 3.2 * WEEKS / 2)
    total = 0
    seq = 0
    block_users: list[dict[str, Any]] = []
    block_events: list[dict[str, Any]] = []
    for u in range(n_users):
        uid = f"bu{u:06d}"
        arrive = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
        block_users.append(
            {
                "id": uid,
                "identities": [],
                "source_channel": rng.choice(SOURCES),
                "created_at": to_iso(arrive),
                "updated_at": to_iso(arrive),
                "attributes": {},
            }
        )
        channel = rng.choices(CHANNELS, weights=[4, 3, 2, 1, 1])[0]
        intensity = rng.choice([1, 2, 3, 4, 5, 7]) * scale * 0.8
        lifetime = rng.expovariate(1 / 6) * 7
        returns = rng.random() < 0.2
        buyer = rng.random() ** 2  # few heavy buyers
        base_open = rng.choice([0.1, 0.25, 0.45])
        muted = False
        week_start = arrive
        while week_start < now and not muted and total < n_events:
            age = (week_start - arrive).days
            fading = age > lifetime and not (returns and age > lifetime + 21)
            n = _poisson(rng, intensity)
            for k in range(n):
                at = week_start + timedelta(seconds=rng.uniform(0, 7 * 86400))
                if at >= now:
                    continue
                seq += 1
                aid = f"b{min(int(rng.paretovariate(1.2)) - 1, N_ASSETS - 1):05d}"
                base = {
                    "user_id": uid,
                    "asset_id": aid,
                    "channel": channel,
                    "group_id": None,
                    "recommendation_id": None,
                    "value": None,
                }
                block_events.append({**base, "id": f"{prefix}{seq}d", "type": "delivered", "ts": to_iso(at)})
                if rng.random() < base_open * (0.12 if fading else 1.0) * 0.92**k:
                    block_events.append(
                        {**base, "id": f"{prefix}{seq}o", "type": "open", "ts": to_iso(at + timedelta(minutes=3))}
                    )
                    if rng.random() < 0.3:
                        block_events.append(
                            {**base, "id": f"{prefix}{seq}c", "type": "click", "ts": to_iso(at + timedelta(minutes=4))}
                        )
                        if rng.random() < 0.5 * buyer:
                            block_events.append(
                                {
                                    **base,
                                    "id": f"{prefix}{seq}v",
                                    "type": "convert",
                                    "value": round(rng.lognormvariate(4.8, 0.6), 2),
                                    "ts": to_iso(at + timedelta(minutes=20)),
                                }
                            )
                elif rng.random() < 0.002 + 0.006 * max(n - 2, 0):
                    kind = "unsubscribe" if rng.random() < 0.2 else "mute"
                    block_events.append(
                        {
                            **base,
                            "id": f"{prefix}{seq}m",
                            "type": kind,
                            "ts": to_iso(at + timedelta(hours=1)),
                            "asset_id": aid if kind == "mute" else None,
                        }
                    )
                    muted = kind == "unsubscribe"
            week_start += timedelta(days=7)
            total = total_so_far(total, block_events)
        if len(block_events) >= 50_000 or u == n_users - 1 or total >= n_events:
            yield block_users, block_events
            block_users, block_events = [], []
            if total >= n_events:
                break
    if block_users:
        yield block_users, []


_counted = [0]


def total_so_far(total: int, block: list[dict[str, Any]]) -> int:
    """Events generated so far (the current block's included)."""
    return _counted[0] + len(block)


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def derive(assets: dict[str, dict[str, Any]]) -> Callable[[list[dict[str, Any]]], Any]:
    """What ingestion derives after validation: the profile and asset counters (the dashboard adds nothing)."""
    return lambda new: counter_deltas(new, assets, HALF_LIFE)


def load(hub: Hub, n_users: int, n_events: int, bulk: bool = False) -> dict[str, Any]:
    """``bulk``: events through ``add_events`` without a deriver (the store's bulk add alone) and the
    counters the deriver gives, summed in memory, written once at the end with the store copy's
    ``set_counters`` — the same stored counters, without a counter round trip per batch (Elasticsearch)."""
    assets = make_assets()
    summed: dict[str, dict[str, dict[str, float]]] = {}
    hub.store.put_assets(assets)
    by_id = {a["id"]: a for a in assets}
    t0 = time.perf_counter()
    stored_users = stored_events = 0
    events_seconds = 0.0
    _counted[0] = 0
    passes = 0
    while stored_events < n_events:
        for block_users, block_events in make_world(
            n_users, n_events - stored_events, seed=7 + passes, prefix="x" if not passes else f"p{passes}-"
        ):
            docs = {u["id"]: u for u in block_users}
            if not passes:
                importer = getattr(hub.store, "import_docs", None)
                if importer is not None:  # Elasticsearch: bulk, versions as given
                    importer(users.USERS, [(uid, doc, 1) for uid, doc in docs.items()])
                else:
                    hub.store.put_docs_atomic(users.USERS, docs)
                stored_users += len(docs)
            t = time.perf_counter()
            for i in range(0, len(block_events), BATCH):
                chunk = block_events[i : i + BATCH]
                if bulk:
                    stored = set(hub.store.add_events(chunk))
                    for collection, key, fields in derive(by_id)([e for e in chunk if e["id"] in stored]):
                        row = summed.setdefault(collection, {}).setdefault(key, {})
                        for f, v in fields.items():
                            row[f] = row.get(f, 0.0) + v
                    stored_events += len(stored)
                else:
                    stored_events += len(hub.store.add_events(chunk, derive=derive(by_id)))
            events_seconds += time.perf_counter() - t
            _counted[0] += len(block_events)
            if len(docs) and int(next(iter(docs))[2:]) % 20000 < len(docs):
                log(f"  {hub.store.backend}: pass {passes}, {stored_users} users, {stored_events} events")
        passes += 1
        _counted[0] = 0
    for collection, rows in summed.items():
        keys_ = list(rows)
        for i in range(0, len(keys_), 50_000):
            hub.store.set_counters(collection, {k: rows[k] for k in keys_[i : i + 50_000]})  # type: ignore[attr-defined]
    return {
        "bulk": bulk,
        "users": stored_users,
        "events": stored_events,
        "passes": passes,
        "load_seconds": round(time.perf_counter() - t0, 1),
        "events_per_second": round(stored_events / events_seconds) if events_seconds else None,
    }


def top_up(hub: Hub, n_users: int, n_events: int, before: dict[str, Any]) -> dict[str, Any]:
    """Add second-stream sends (another seed, other event ids) to a store loaded with fewer events."""
    by_id = {a["id"]: a for a in make_assets()}
    have, t0, added = int(before["events"]), time.perf_counter(), 0
    stream = 0
    while have + added < n_events:
        _counted[0] = 0
        stream += 1
        for _, block_events in make_world(n_users, n_events - have - added, seed=200 + stream, prefix=f"t{stream}-"):
            for i in range(0, len(block_events), BATCH):
                added += len(hub.store.add_events(block_events[i : i + BATCH], derive=derive(by_id)))
            _counted[0] += len(block_events)
    return {
        **before,
        "events": have + added,
        "topped_up": added + int(before.get("topped_up", 0)),
        "top_up_seconds": round(time.perf_counter() - t0 + float(before.get("top_up_seconds", 0)), 1),
    }


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Wall clock and this process's CPU time (on a box shared at load 20+, wall time is mostly waiting)."""
    samples, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "median_s": round(statistics.median(samples), 4),
        "max_s": round(max(samples), 4),
        "cpu_median_s": round(statistics.median(cpu), 4),
        "cpu_max_s": round(max(cpu), 4),
    }


def measure(hub: Hub, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t, c = time.perf_counter(), time.process_time()
    r = rollup.refresh(hub, full=True)
    out["rollup_refresh_full_s"] = round(time.perf_counter() - t, 2)  # reading and assembling, then warm views
    out["rollup_refresh_full_cpu_s"] = round(time.process_time() - c, 2)
    out["rollup_build_s"] = round(r.build_seconds, 2)  # reading the log and assembling the arrays
    out["rollup_users"] = len(r.user_ids)
    out["rollup_weeks"] = r.n_weeks
    t, c = time.perf_counter(), time.process_time()
    r = rollup.refresh(hub)
    out["rollup_refresh_unchanged"] = {
        "seconds": round(time.perf_counter() - t, 2),
        "cpu_s": round(time.process_time() - c, 2),
        "build_s": round(r.build_seconds, 2),
        "weeks_read": r.reread_weeks,
    }
    out["rollup_refresh_after_new_events"] = refresh_after_new_events(hub)
    r = rollup.get(hub)
    t = time.perf_counter()
    hub.cache.pop("dashboard.ltv", None)
    fitted, _ = ltv.model(hub, r)
    out["ltv_fit_s"] = round(time.perf_counter() - t, 2)
    out["ltv_model"] = fitted.model_dump(exclude={"holdout", "fitted_at"})
    out["ltv_holdout"] = [h.model_dump() for h in fitted.holdout]
    views: dict[str, Callable[[], Any]] = {
        "retention_by_week": lambda: service.retention_view(hub, "week", 12),
        "retention_by_source": lambda: service.retention_view(hub, "source", 12),
        "retention_by_journey": lambda: service.retention_view(hub, "journey", 12),
        "retention_by_tier": lambda: service.retention_view(hub, "tier", 12),
        "lifecycle_flows": lambda: service.lifecycle_view(hub, 12),
        "channel_health": lambda: service.channels_view(hub, 12),
        "asset_leaders": lambda: service.assets_view(hub, 10),
        "fatigue_wecom_1v1": lambda: service.fatigue_view(hub, "wecom_1v1"),
        "ltv_observed": lambda: service.ltv_observed_view(hub, "week", 12),
        "ltv_model": lambda: service.ltv_model_view(hub),
        "user_value": lambda: service.user_value(hub, r.user_ids[len(r.user_ids) // 2]),
    }
    out["views"] = {name: timed(fn, repeat) for name, fn in views.items()}
    app = create_app(hub.settings, hub)
    _, secret = keys.create_key(hub.store, "viewer", f"bench-{uuid.uuid4().hex[:6]}")
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {secret}"
    pages = [
        "/dashboard/retention",
        "/dashboard/retention?by=source",
        "/dashboard/channels",
        "/dashboard/fatigue?channel=wecom_1v1",
        "/dashboard/ltv",
        "/v1/dashboard/retention",
        "/v1/dashboard/lifecycle",
        "/v1/dashboard/channels",
        "/v1/dashboard/fatigue?channel=wecom_1v1",
        "/v1/dashboard/ltv/model",
        "/v1/dashboard/retention?format=csv",
    ]

    def get(url: str) -> None:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])

    out["http"] = {url: timed(lambda u=url: get(u), repeat) for url in pages}
    out["slowest_warm_view_s"] = max(v["max_s"] for v in [*out["views"].values(), *out["http"].values()])
    out["slowest_warm_view_cpu_s"] = max(v["cpu_max_s"] for v in [*out["views"].values(), *out["http"].values()])
    t = time.perf_counter()
    hub.store.event_counts(("channel", "type"), EventQuery(limit=10_000_000))
    out["raw_event_aggregation_s"] = round(time.perf_counter() - t, 2)
    out["fatigue_wecom_1v1"] = service.fatigue_view(hub, "wecom_1v1").model_dump()
    return out


def refresh_after_new_events(hub: Hub, n: int = 10_000) -> dict[str, Any]:
    """An incremental refresh after ``n`` new events this week (500 new users, as a day's traffic would bring
    in part), which are erased again afterwards (the kept data set stays as loaded) and the rollup refreshed."""
    now = utcnow()
    ids = [f"bench-new-{uuid.uuid4().hex[:8]}-{u}" for u in range(500)]
    evs = [
        {
            "id": f"{ids[i % 500]}-{i}",
            "type": "delivered" if i % 3 else "open",
            "user_id": ids[i % 500],
            "asset_id": f"b{i % N_ASSETS:05d}",
            "channel": CHANNELS[i % len(CHANNELS)],
            "group_id": None,
            "recommendation_id": None,
            "value": None,
            "ts": to_iso(now - timedelta(seconds=i % 3600)),
        }
        for i in range(n)
    ]
    added = len(hub.store.add_events(evs))
    t, c = time.perf_counter(), time.process_time()
    r = rollup.refresh(hub)
    out = {
        "new_events": added,
        "seconds": round(time.perf_counter() - t, 2),
        "cpu_s": round(time.process_time() - c, 2),
        "build_s": round(r.build_seconds, 2),
        "weeks_read": r.reread_weeks,
        "of_weeks": r.n_weeks,
        "users": len(r.user_ids),
    }
    hub.store.delete_events(EventQuery(user_ids=tuple(ids), limit=10**9))
    t = time.perf_counter()
    r = rollup.refresh(hub)
    out["after_erasing_them"] = {
        "seconds": round(time.perf_counter() - t, 2),
        "weeks_read": r.reread_weeks,
        "users": len(r.user_ids),
    }
    return out


def parse_runs(text: str) -> list[tuple[str, int, int]]:
    """'sqlite:100000:5000000,elasticsearch:20000:1000000' → [(backend, users, events), ...]."""
    runs = []
    for part in filter(None, text.split(",")):
        name, users_, events_ = part.split(":")
        if name not in ("sqlite", "elasticsearch"):
            raise SystemExit(f"--runs: unknown backend {name!r} (sqlite or elasticsearch)")
        runs.append((name, int(users_), int(events_)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--runs",
        default="sqlite:100000:5000000,elasticsearch:100000:5000000",
        help="comma list of backend:users:events, measured one after the other in this run",
    )
    parser.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    parser.add_argument(
        "--keep-root",
        default="",
        help="folder for the SQLite data sets (sqlite-<users>u), "
        "reused between runs (loaded once, topped up to more events)",
    )
    parser.add_argument("--es-prefix", default="", help="ES index prefix (<prefix>-<users>u) to reuse between runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--es-from-sqlite",
        action="store_true",
        help="load Elasticsearch by copying the SQLite data set of the same size (contenthub store "
        "copy) instead of ingesting",
    )
    parser.add_argument("--load-only", action="store_true", help="load (or top up) the stores, measure nothing")
    parser.add_argument(
        "--es-bulk",
        action="store_true",
        help="load Elasticsearch with the store's bulk add and the counters written once (see load)",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "bench": "dashboard",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    for name, n_users, n_events in parse_runs(args.runs):
        label = f"{name}_{n_users}_users_{n_events}_events"
        keep = Path(args.keep_root) / f"sqlite-{n_users}u" if args.keep_root else None
        if name == "sqlite":
            data = keep or Path(tempfile.mkdtemp(prefix="dash-bench-sqlite-"))
            settings = Settings(data_dir=data, session_secret="bench")
        else:
            if not args.es_url:
                result[label] = {"skipped": "no --es-url / CONTENTHUB_TEST_ES_URL"}
                continue
            prefix = f"{args.es_prefix}-{n_users}u" if args.es_prefix else f"dash-{uuid.uuid4().hex[:8]}"
            settings = Settings(
                data_dir=Path(tempfile.mkdtemp(prefix="dash-bench-es-")),
                store_url=args.es_url,
                session_secret="bench",
                es_index_prefix=prefix,
            )
        hub = open_hub(settings)
        try:
            marker = hub.store.get_doc("bench", "dashboard-load")
            if marker and marker.get("users") == n_users and marker["load"]["events"] >= n_events:
                loaded = {**marker["load"], "reused": True}
            elif marker and marker.get("users") == n_users and name == "sqlite":
                log(f"{label}: topping up {marker['load']['events']} events to {n_events}")
                loaded = top_up(hub, n_users, n_events, marker["load"])
                hub.store.put_doc("bench", "dashboard-load", {"users": n_users, "events": n_events, "load": loaded})
            elif name == "elasticsearch" and args.es_from_sqlite and args.keep_root:
                source = Path(args.keep_root) / f"sqlite-{n_users}u"
                log(f"{label}: copying the SQLite store {source}")
                src = SQLiteStore(source / "contenthub.db", source / "media")
                t = time.perf_counter()
                report = copy_store(src, hub.store, progress=False)
                src.close()
                seconds = time.perf_counter() - t
                loaded = {
                    "copied_from_sqlite": True,
                    "copy_seconds": round(seconds, 1),
                    "verified": report.ok,
                    "events": hub.store.count_events(),
                    "users": hub.store.count_docs(users.USERS),
                }
                hub.store.put_doc("bench", "dashboard-load", {"users": n_users, "events": n_events, "load": loaded})
            else:
                log(f"{label}: loading")
                loaded = load(hub, n_users, n_events, bulk=args.es_bulk and name == "elasticsearch")
                hub.store.put_doc("bench", "dashboard-load", {"users": n_users, "events": n_events, "load": loaded})
            if args.load_only:
                result[label] = {"load": loaded}
                continue
            log(f"{label}: measuring")
            result[label] = {"load": loaded, **measure(hub, args.repeat)}
        finally:
            hub.close()
        log(json.dumps({label: result[label]}, ensure_ascii=False))  # each run's JSON as soon as it is measured
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, indent=1), flush=True)


if __name__ == "__main__":
    main()
