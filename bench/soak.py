"""Bench: soak the HTTP API for a long stretch and report throughput, latency, errors, memory and event counts.

Starts its own server (``python -m uvicorn contenthub.asgi:app`` on 127.0.0.1, a free port) on a temporary data
directory filled by ``contenthub demo``, then drives it from separate client processes with a realistic mix:
70% next content (users and groups), 25% event batches, 5% search and editor page views (a real login session).
A few event batches are re-sent on purpose, as a retrying bot would. Everything is loopback only, the client
processes are bounded in number, and the run stops by itself at ``--seconds`` (a hard stop terminates any
straggler by pid shortly after). At the end the server is stopped gracefully and the database is counted:
every accepted event must be stored exactly once.

Prints JSON: requests/s, p50/p99/max latency (overall and per kind), errors (must be 0), server RSS at start,
end and peak (growth overall and over the second half, which excludes warm-up), and the event count check.

Usage: python bench/soak.py [--seconds 600] [--clients 4] [--assets 400] [--users 600] [--data-dir DIR]
                            [--mix next=70,events=25,browse=5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_proc import ServerProcess, server_env  # noqa: E402

BATCH = 50
EVENT_TYPES = ("delivered", "open", "click", "favorite", "share", "convert")
CHANNELS = ("wecom_1v1", "moments", "mp_service", "wecom_group")
QUERIES = ("护眼", "新品", "会员日", "咖啡 入门", "复购提醒", "直播预告", "tutorial", "618 大促")
RESEND_EVERY = 20
"""Every 20th event batch is sent twice: the second answer must be 0 accepted, all duplicates."""


def _targets(data_dir: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(data_dir / "contenthub.db")
    try:
        users = [r[0] for r in conn.execute("SELECT id FROM docs WHERE collection='users' LIMIT 5000")]
        groups = [r[0] for r in conn.execute("SELECT id FROM docs WHERE collection='groups' LIMIT 500")]
        assets = [r[0] for r in conn.execute("SELECT id FROM assets WHERE status='approved' LIMIT 5000")]
    finally:
        conn.close()
    return {"users": users, "groups": groups, "assets": assets}


def _keys(data_dir: Path) -> dict[str, str]:
    out = {}
    for line in (data_dir / "demo-keys.txt").read_text().splitlines():
        role, _, secret = line.partition("\t")
        out[role] = secret
    return out


def _login(client: Any, key: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"key": key, "csrf_token": token, "next": "/library"})
    if r.status_code not in (200, 303):
        raise RuntimeError(f"login failed: {r.status_code}")


def worker(
    wid: int,
    url: str,
    keys: dict[str, str],
    targets: dict[str, list[str]],
    deadline: float,
    warmup_until: float,
    mix: tuple[float, float, float],
    out: Any,
) -> None:
    """One client process: a sequential request loop until the deadline; latencies only after warm-up."""
    import httpx

    rng = random.Random(wid)
    lat: dict[str, list[float]] = {"next_user": [], "next_group": [], "events": [], "search": [], "page": []}
    errors: list[str] = []
    sent_ids = 0
    accepted = 0
    resent_ok = 0
    n_batch = 0
    bot = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['bot']}"}, timeout=30)
    viewer = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['viewer']}"}, timeout=30)
    pages = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    try:
        _login(pages, keys["editor"])
        while (now := time.monotonic()) < deadline:
            roll = rng.random()
            measured = now >= warmup_until
            try:
                if roll < mix[0]:
                    if rng.random() < 0.85 or not targets["groups"]:
                        kind = "next_user"
                        r = bot.get(
                            f"/v1/recommendations/users/{rng.choice(targets['users'])}",
                            params={"channel": rng.choice(CHANNELS[:3]), "n": 3},
                        )
                    else:
                        kind = "next_group"
                        r = bot.get(
                            f"/v1/recommendations/groups/{rng.choice(targets['groups'])}",
                            params={"channel": "wecom_group", "n": 3},
                        )
                    ok = r.status_code == 200
                elif roll < mix[0] + mix[1]:
                    kind = "events"
                    batch_id = f"soak-w{wid}-b{n_batch}"
                    n_batch += 1
                    events = [
                        {
                            "id": f"{batch_id}-{i}",
                            "type": rng.choice(EVENT_TYPES),
                            "user_id": rng.choice(targets["users"]),
                            "asset_id": rng.choice(targets["assets"]),
                            "channel": rng.choice(CHANNELS),
                            **({"value": 39.0} if i % 17 == 0 else {}),
                        }
                        for i in range(BATCH)
                    ]
                    r = bot.post("/v1/events", json={"events": events})
                    ok = r.status_code == 200
                    if ok:
                        sent_ids += BATCH
                        accepted += r.json()["accepted"]
                        if n_batch % RESEND_EVERY == 0:  # a retrying bot: the same batch again changes nothing
                            again = bot.post("/v1/events", json={"events": events})
                            if again.status_code == 200 and again.json() == {
                                "accepted": 0,
                                "duplicates": BATCH,
                                "rejected": [],
                            }:
                                resent_ok += 1
                            else:
                                errors.append(f"resend: {again.status_code} {again.text[:200]}")
                elif roll < mix[0] + mix[1] + mix[2] / 2:
                    kind = "search"
                    r = viewer.get("/v1/assets", params={"q": rng.choice(QUERIES), "limit": 20})
                    ok = r.status_code == 200
                else:
                    kind = "page"
                    path = rng.choice(
                        [
                            "/library",
                            f"/library/assets/{rng.choice(targets['assets'])}",
                            "/library?q=" + rng.choice(QUERIES),
                            "/calendar",
                            "/users",
                        ]
                    )
                    r = pages.get(path)
                    ok = r.status_code == 200
                if not ok:
                    errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
                if measured:
                    lat[kind].append(r.elapsed.total_seconds())
            except Exception as exc:  # noqa: BLE001 - every failure is an error in the report
                errors.append(f"exception: {type(exc).__name__}: {exc}")
    finally:
        bot.close()
        viewer.close()
        pages.close()
    out.put(
        {
            "wid": wid,
            "lat": lat,
            "errors": errors,
            "sent_ids": sent_ids,
            "accepted": accepted,
            "resent_ok": resent_ok,
            "batches": n_batch,
        }
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(_pct(values, 0.50) * 1000, 2),
        "p99_ms": round(_pct(values, 0.99) * 1000, 2),
        "max_ms": round(max(values, default=0.0) * 1000, 2),
    }


def _prepare(data_dir: Path, assets: int, users: int) -> float:
    started = time.monotonic()
    env = server_env(data_dir)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "contenthub.cli",
            "demo",
            "--data-dir",
            str(data_dir),
            "--assets",
            str(assets),
            "--users",
            str(users),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def parse_mix(text: str) -> tuple[float, float, float]:
    """'next=70,events=25,browse=5' → shares of next content, event batches, search + page views."""
    parts = dict(p.split("=") for p in text.split(","))
    shares = [float(parts.get(k, 0)) for k in ("next", "events", "browse")]
    total = sum(shares)
    if total <= 0 or any(x < 0 for x in shares):
        raise ValueError("mix shares must be >= 0 and not all 0")
    return shares[0] / total, shares[1] / total, shares[2] / total


def run(
    seconds: float,
    clients: int,
    assets: int,
    users: int,
    data_dir: Path | None,
    warmup: float,
    mix: tuple[float, float, float] = (0.70, 0.25, 0.05),
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="contenthub-soak-"))
    work = tmp / "data"
    prep_seconds = 0.0
    if data_dir is not None:
        shutil.copytree(data_dir, work)
    else:
        prep_seconds = _prepare(work, assets, users)
    keys, targets = _keys(work), _targets(work)
    # the soak measures the server, not the per-key rate limit (its clients share one bot key)
    server = ServerProcess(
        work, log_path=tmp / "server.log", env_extra={"CONTENTHUB_RATE_LIMIT_PER_MINUTE": str(10**9)}
    ).start()
    samples: list[tuple[float, int]] = []
    detail: list[dict[str, int]] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            mem = server.memory()
            samples.append((time.monotonic(), mem.get("VmRSS", 0)))
            detail.append(mem)
            stop_sampling.wait(5.0)

    procs: list[mp.Process] = []
    results: list[dict[str, Any]] = []
    try:
        import httpx

        # warm the model (hybrid search embeds the query) before the clock starts
        httpx.get(
            server.url + "/v1/assets",
            params={"q": "护眼"},
            timeout=300,
            headers={"Authorization": f"Bearer {keys['viewer']}"},
        )
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        start = time.monotonic()
        warmup_until = start + warmup
        deadline = warmup_until + seconds
        procs = [
            ctx.Process(
                target=worker, args=(i, server.url, keys, targets, deadline, warmup_until, mix, out), daemon=True
            )
            for i in range(clients)
        ]
        for p in procs:
            p.start()
        while time.monotonic() < warmup_until:
            time.sleep(0.2)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        hard_stop = deadline + 60
        while len(results) < clients and time.monotonic() < hard_stop:
            try:
                results.append(out.get(timeout=1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the hard stop
                pass
        measured_seconds = time.monotonic() - warmup_until
        stop_sampling.set()
        last = server.memory()
        samples.append((time.monotonic(), last.get("VmRSS", 0)))
        detail.append(last)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        exit_code = server.stop()

    db_mb = sum(p.stat().st_size for p in work.glob("contenthub.db*")) / (1024 * 1024)
    conn = sqlite3.connect(work / "contenthub.db")
    try:
        stored = conn.execute("SELECT COUNT(*) FROM events WHERE id LIKE 'soak-%'").fetchone()[0]
        total_events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    shutil.rmtree(tmp, ignore_errors=True)

    lat: dict[str, list[float]] = {}
    for res in results:
        for kind, values in res["lat"].items():
            lat.setdefault(kind, []).extend(values)
    every = [v for values in lat.values() for v in values]
    errors = [e for res in results for e in res["errors"]]
    accepted = sum(res["accepted"] for res in results)
    sent = sum(res["sent_ids"] for res in results)
    rss = [b for _, b in samples if b]
    half = [b for t, b in samples if b and t >= samples[0][0] + (samples[-1][0] - samples[0][0]) / 2]
    mb = 1024 * 1024
    return {
        "bench": "soak",
        "seconds": round(measured_seconds, 1),
        "warmup_seconds": warmup,
        "client_processes": clients,
        "mix_asked": {"next": mix[0], "events": mix[1], "search_and_pages": mix[2]},
        "clients_finished": len(results),
        "demo": {"assets": assets, "users": users, "prepare_seconds": round(prep_seconds, 1)}
        if data_dir is None
        else {"copied_from": str(data_dir)},
        "requests": len(every),
        "requests_per_s": round(len(every) / measured_seconds, 1) if measured_seconds else 0.0,
        "latency": _stats(every),
        "by_kind": {k: _stats(v) for k, v in sorted(lat.items())},
        "mix": {k: round(len(v) / max(len(every), 1), 3) for k, v in sorted(lat.items())},
        "errors": len(errors),
        "error_samples": errors[:5],
        "memory_mb": {
            "start": round(rss[0] / mb, 1) if rss else None,
            "end": round(rss[-1] / mb, 1) if rss else None,
            "max": round(max(rss) / mb, 1) if rss else None,
            "growth": round((rss[-1] - rss[0]) / mb, 1) if rss else None,
            "growth_second_half": round((half[-1] - half[0]) / mb, 1) if len(half) > 1 else None,
            "samples": len(rss),
            "database_files_at_end": round(db_mb, 1),
            # anon = heap (Python objects, SQLite page caches); file = mapped files (mmap'd database)
            "anon_start": round(detail[0].get("RssAnon", 0) / mb, 1) if detail else None,
            "anon_end": round(detail[-1].get("RssAnon", 0) / mb, 1) if detail else None,
            "file_start": round(detail[0].get("RssFile", 0) / mb, 1) if detail else None,
            "file_end": round(detail[-1].get("RssFile", 0) / mb, 1) if detail else None,
            "threads_end": detail[-1].get("Threads") if detail else None,
        },
        "events": {
            "sent": sent,
            "accepted": accepted,
            "stored": stored,
            "stored_total_in_db": total_events,
            "resent_batches_all_duplicates": sum(res["resent_ok"] for res in results),
            "exactly_once": stored == accepted == sent,
        },
        "server_exit_code": exit_code,
        "integrity_check": integrity,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="Measured duration (after warm-up).")
    ap.add_argument("--warmup", type=float, default=10.0, help="Seconds of load before measuring.")
    ap.add_argument("--clients", type=int, default=4, help="Client processes (each one connection, sequential).")
    ap.add_argument("--assets", type=int, default=400, help="contenthub demo --assets")
    ap.add_argument("--users", type=int, default=600, help="contenthub demo --users")
    ap.add_argument("--data-dir", type=Path, default=None, help="Copy this demo data dir instead of generating one.")
    ap.add_argument("--mix", default="next=70,events=25,browse=5", help="Request shares (browse = search + pages).")
    args = ap.parse_args()
    if not 1 <= args.clients <= 32:
        ap.error("--clients must be 1..32 (the box has few cores; this is a soak, not a stress test)")
    result = run(args.seconds, args.clients, args.assets, args.users, args.data_dir, args.warmup, parse_mix(args.mix))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if result["errors"] or not result["events"]["exactly_once"] or result["clients_finished"] != args.clients:
        sys.exit(1)


if __name__ == "__main__":
    main()
