"""Bench: journey scheduler throughput — due users advanced per second with 1M users in journeys.

Prints JSON with
- ``enroll``: users put into a journey per second (``engine.enroll_many``: states + due hints);
- ``advance``: due users advanced per second by ``engine.advance_due`` (the scheduler's job) while
  ``--users`` users are in the journey: each due user is checked against the exit condition (one
  indexed event query: 'converted since entry'), its send step is queued (send document + channel
  outbox entry), it moves to the next step (new due hint, state written, old hint deleted) and the
  funnel counters are bumped — all through the store interface, batched per page of 500;
- ``fetch``: due sends per second through ``outbox.fetch_due`` (what ``GET /v1/journeys/due`` does:
  recommender pick with a cap reservation per send) on a smaller sample, because that cost is the
  recommender's and scales with sends, not with users in journeys.

All ``--users`` users are enrolled; ``--advance`` of them (default all) are made due at the same
minute and advanced. When ``--advance`` is smaller than ``--users`` the JSON says so and extrapolates
the time for all of them linearly (rate measured with the full population stored).

Times are wall seconds and this process's CPU seconds (the dev box is shared: wall time includes
waiting for a core). ``--store-url elasticsearch://…`` runs the same on Elasticsearch (indices with a
unique prefix, dropped afterwards).

``--profile`` adds ``fetch.profile``: for the measured fetches, each store method called from domain code
(outermost calls only) with its calls, wall seconds and — on Elasticsearch — the HTTP requests it made
and their seconds by kind ("POST _bulk s"),
so where a page's wall time goes can be read per round trip; "outside_store_s" is the rest (this
process's Python: ranking, models, JSON).

Usage: python bench/journeys.py [--users 1000000] [--advance 200000] [--fetch 2000]
       [--data-dir /tmp/contenthub-bench-journeys] [--store-url URL] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contenthub.config import Settings  # noqa: E402
from contenthub.hub import open_hub  # noqa: E402
from contenthub.journeys import engine, outbox, service  # noqa: E402
from contenthub.journeys.models import JourneyIn  # noqa: E402
from contenthub.library.models import Asset  # noqa: E402
from contenthub.timeutil import to_iso, utcnow  # noqa: E402

JOURNEY = {
    "id": "bench",
    "name": "bench",
    "status": "active",
    "trigger": {"kind": "manual"},
    "exit": [{"kind": "converted"}],
    "steps": [
        {"id": "first", "wait": {"days": 1}, "channel": "sms"},
        {"id": "second", "wait": {"days": 2}, "channel": "sms", "condition": {"kind": "converted", "negate": True}},
        {"id": "third", "wait": {"days": 3}, "channel": "sms"},
    ],
}


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


@contextmanager
def _store_profile(store: Any) -> Iterator[dict[str, dict[str, float]]]:
    """Wrap the store's public methods (and, on Elasticsearch, its transport) for the duration: calls,
    wall seconds and HTTP requests per outermost store method; an inner call (a method calling another)
    counts for its caller."""
    stats: dict[str, dict[str, float]] = {}
    stack: list[str] = []

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if stack:
                return fn(*args, **kwargs)
            stack.append(name)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
                row = stats.setdefault(name, {"calls": 0, "seconds": 0.0, "requests": 0})
                row["calls"] += 1
                row["seconds"] += time.perf_counter() - t

        return timed

    names = [n for n in dir(type(store)) if not n.startswith("_") and callable(getattr(type(store), n, None))]
    for n in names:
        setattr(store, n, wrap(n, getattr(store, n)))
    transport = getattr(getattr(store, "es", None), "transport", None)
    if transport is not None:
        send = transport.perform_request

        def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            row = stats.setdefault(stack[0] if stack else "(outside)", {"calls": 0, "seconds": 0.0, "requests": 0})
            row["requests"] += 1
            last = path.split("?")[0].rsplit("/", 1)[-1]
            what = f"{method} {last if last.startswith('_') and '%2F' not in last else '_doc'} s"  # "POST _bulk s"
            t = time.perf_counter()
            try:
                return send(method, path, *args, **kwargs)
            finally:
                row[what] = round(row.get(what, 0) + time.perf_counter() - t, 4)

        transport.perform_request = counted
    try:
        yield stats
    finally:
        for n in names:
            delattr(store, n)
        if transport is not None:
            del transport.perform_request


def bench(
    users: int, advance: int, fetch: int, data_dir: Path, store_url: str = "", profile: bool = False
) -> dict[str, Any]:
    import secrets

    hub = open_hub(
        Settings(
            data_dir=data_dir,
            journeys_loop_seconds=0,
            store_url=store_url,
            es_index_prefix=f"bench-journeys-{secrets.token_hex(4)}",
        )
    )
    try:
        j = service.save(hub, JourneyIn.model_validate(JOURNEY), "bench")
        start = utcnow() - timedelta(days=5)
        ids = [f"bu{i:07d}" for i in range(users)]
        # Events for 10% of users (a convert for 1%), so the exit check reads a real index.
        t = time.perf_counter()
        rows = [
            {
                "id": f"be{i}",
                "type": "convert" if i % 10 == 0 else "open",
                "user_id": ids[i * 10 % users],
                "asset_id": None,
                "channel": "sms",
                "ts": to_iso(start + timedelta(hours=1)),
                "value": None,
            }
            for i in range(users // 10)
        ]
        for i in range(0, len(rows), 50000):
            hub.store.add_events(rows[i : i + 50000])
        events_s = time.perf_counter() - t

        t, c = time.perf_counter(), time.process_time()
        due_ids, later_ids = ids[:advance], ids[advance:]
        for chunk in range(0, len(due_ids), 50000):
            engine.enroll_many(hub, j, due_ids[chunk : chunk + 50000], now=start)
        if later_ids:  # in the journey too, but due a day later: they must not slow the due ones down
            for chunk in range(0, len(later_ids), 50000):
                engine.enroll_many(hub, j, later_ids[chunk : chunk + 50000], now=start + timedelta(days=1))
        enroll_s, enroll_cpu = time.perf_counter() - t, time.process_time() - c

        now = start + timedelta(days=1, minutes=1)
        t, c = time.perf_counter(), time.process_time()
        res = engine.run_until_idle(hub, now, batch=5000, max_rounds=10**6)
        advance_s, advance_cpu = time.perf_counter() - t, time.process_time() - c
        assert res.processed == advance, (res.processed, advance)
        exited = res.exited

        fetch_out: dict[str, Any] = {}
        if fetch:
            stamp = to_iso(start - timedelta(days=30))
            hub.store.put_assets(
                [
                    Asset(
                        id=f"ba{i:04d}",
                        title=f"bench {i}",
                        kind="text_script",
                        channels=["sms"],
                        tags=[f"t{i % 20}"],
                        status="approved",
                        created_at=stamp,
                        updated_at=stamp,
                    ).model_dump(mode="json")
                    for i in range(500)
                ]
            )
            hub.touch("assets")
            outbox.fetch_due(hub, "sms", limit=10, now=now)  # warm the catalog
            with _store_profile(hub.store) if profile else _nothing() as stats:
                t, c = time.perf_counter(), time.process_time()
                got = 0
                while got < fetch:
                    batch = outbox.fetch_due(hub, "sms", limit=min(outbox.MAX_LIMIT, fetch - got), now=now)
                    if not batch:
                        break
                    got += len(batch)
                fetch_s, fetch_cpu = time.perf_counter() - t, time.process_time() - c
            fetch_out = {
                "sends": got,
                "seconds": round(fetch_s, 2),
                "cpu_seconds": round(fetch_cpu, 2),
                "sends_per_s": round(got / fetch_s, 1),
                "sends_per_cpu_s": round(got / fetch_cpu, 1),
                "assets": 500,
            }
            if stats is not None:
                rows = sorted(stats.items(), key=lambda kv: -kv[1]["seconds"])
                fetch_out["profile"] = {
                    "store": {k: {**v, "seconds": round(v["seconds"], 3)} for k, v in rows},
                    "store_s": round(sum(v["seconds"] for v in stats.values()), 3),
                    "requests": int(sum(v["requests"] for v in stats.values())),
                    "outside_store_s": round(fetch_s - sum(v["seconds"] for v in stats.values()), 3),
                }
        db = data_dir / "contenthub.db"
        size_mb = sum(p.stat().st_size for p in data_dir.glob("contenthub.db*")) / 1e6 if db.exists() else None
        rate = advance / advance_s
        out: dict[str, Any] = {
            "bench": "journeys",
            "backend": hub.store.backend,
            "users_in_journeys": users,
            "enroll": {
                "users": users,
                "seconds": round(enroll_s, 1),
                "cpu_seconds": round(enroll_cpu, 1),
                "users_per_s": round(users / enroll_s),
                "users_per_cpu_s": round(users / enroll_cpu),
            },
            "advance": {
                "due_users": advance,
                "seconds": round(advance_s, 1),
                "cpu_seconds": round(advance_cpu, 1),
                "users_per_s": round(rate),
                "users_per_cpu_s": round(advance / advance_cpu),
                "exited_on_convert": exited,
                "sends_queued": res.sends_queued,
                "per_user_ms": round(1000 / rate, 3),
            },
            "fetch": fetch_out,
            "setup_events": {"events": len(rows), "seconds": round(events_s, 1)},
            "db_mb": round(size_mb, 1) if size_mb else None,
            "peak_rss_mb": _rss_mb(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
        if advance < users:
            out["advance"]["extrapolated_seconds_for_all_users_due"] = round(users / rate, 1)
            out["advance"]["extrapolated_cpu_seconds_for_all_users_due"] = round(users * advance_cpu / advance, 1)
            out["advance"]["note"] = (
                f"measured on {advance:,} due users with {users:,} in the journey; time for all extrapolated linearly"
            )
        return out
    finally:
        if hub.store.backend == "elasticsearch":
            hub.store.drop()  # type: ignore[attr-defined]
        hub.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--advance", type=int, default=None, help="How many are due and advanced (default: all).")
    ap.add_argument("--fetch", type=int, default=2000, help="Due sends fetched with picks (0: skip).")
    ap.add_argument("--data-dir", type=Path, default=None, help="Default: a temporary directory, removed after.")
    ap.add_argument("--store-url", default="", help="e.g. elasticsearch://127.0.0.1:9200 (default: SQLite).")
    ap.add_argument("--profile", action="store_true", help="Store calls, seconds and HTTP requests per method.")
    args = ap.parse_args()
    advance = min(args.advance or args.users, args.users)
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="contenthub-bench-journeys-")
        data_dir = Path(tmp)
    elif data_dir.exists():
        shutil.rmtree(data_dir)
    try:
        print(json.dumps(bench(args.users, advance, args.fetch, data_dir, args.store_url, args.profile), indent=2))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
