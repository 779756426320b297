"""Bench: next content over HTTP as bench/recommend.py measures it, broken down per worker process.

Same server (``contenthub serve --workers N --no-access-log`` on the bench data set, warmed), same load (32
keep-alive connections from another process, random users, n = 3) — plus, per worker: how many connections it
holds (from ``ss``), the requests it answered, its CPU per request and its p50/p99; per connection: p10/p50/p90;
and a check that every answer names the user asked for. This is what showed the two causes of the p99 this
round fixed: connections split unevenly by the kernel, and requests that waited two event-loop batches.

Usage: python bench/http_by_worker.py --data-dir DIR (a data set bench/recommend.py built) [--workers 2]
       [--seconds 20] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recommend as bench  # noqa: E402  (bench/recommend.py: the server, warm-up and CPU helpers)


def _pct(values: list[float], q: float) -> float:
    return round(bench.pct(values, q), 2)  # the percentile bench/recommend.py reports, so the two compare


async def _client(port: int, paths: list[str], deadline: float, out: dict[str, Any], go: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out["port"] = writer.get_extra_info("sockname")[1]
    await go.wait()
    i = 0
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        t0 = time.perf_counter()
        _, body = await bench.keepalive_get(reader, writer, "127.0.0.1", path)
        out["lat"].append((time.perf_counter() - t0) * 1000)
        user = path.split("/users/")[1].split("?")[0]
        out["wrong"] += f'"target":"{user}"'.encode() not in body
    writer.close()


async def _load(port: int, server_pid: int, users: int, concurrency: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(9)
    paths = [
        f"/v1/recommendations/users/bu{rng.randrange(users):06d}?channel={bench.CHANNEL}&n=3" for _ in range(20000)
    ]
    warm = asyncio.Event()
    warm.set()
    await asyncio.gather(
        *(
            _client(port, paths[k::concurrency], time.perf_counter() + 3, {"lat": [], "wrong": 0}, warm)
            for k in range(concurrency)
        )
    )
    go = asyncio.Event()
    conns: list[dict[str, Any]] = [{"lat": [], "wrong": 0} for _ in range(concurrency)]
    deadline = time.perf_counter() + 0.5 + seconds
    tasks = [
        asyncio.create_task(_client(port, paths[k::concurrency][::-1], deadline, conns[k], go))
        for k in range(concurrency)
    ]
    await asyncio.sleep(0.5)  # every connection open (and handed over, if it is) before the clock starts
    ss = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
    ).stdout
    owner = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r":(\d+)\s+users:.*?pid=(\d+)", ss)}
    cpu0 = bench.process_cpu_s(server_pid)
    go.set()
    await asyncio.gather(*tasks)
    cpu1 = bench.process_cpu_s(server_pid)
    by_worker: dict[int, list[float]] = defaultdict(list)
    held: dict[int, int] = defaultdict(int)
    for c in conns:
        pid = owner.get(c["port"], 0)  # 0: a connection ss did not list
        by_worker[pid] += c["lat"]
        held[pid] += 1
    everything = [x for c in conns for x in c["lat"]]
    return {
        "requests": len(everything),
        "requests_per_s": round(len(everything) / seconds, 1),
        "p50_ms": _pct(everything, 50),
        "p99_ms": _pct(everything, 99),
        "answers_for_another_user": sum(c["wrong"] for c in conns),
        "workers": {
            pid: {
                "connections": held[pid],
                "requests": len(lat),
                "p50_ms": _pct(lat, 50),
                "p99_ms": _pct(lat, 99),
                "cpu_ms_per_request": round((cpu1.get(pid, 0) - cpu0.get(pid, 0)) * 1000 / len(lat), 3),
            }
            for pid, lat in sorted(by_worker.items())
        },
        "connections_p10_p50_p90_ms": sorted(
            (_pct(c["lat"], 10), _pct(c["lat"], 50), _pct(c["lat"], 90)) for c in conns
        ),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        port, pid, users, concurrency, seconds, out = sys.argv[2:8]
        result = asyncio.run(_load(int(port), int(pid), int(users), int(concurrency), float(seconds)))
        Path(out).write_text(json.dumps(result))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args()
    meta = json.loads((args.data_dir / "bench-meta.json").read_text())
    out = args.data_dir / "http-by-worker.json"
    with bench.serving(args.data_dir, args.workers) as (port, server):
        bench.wait_warm(port, server, args.workers)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "_load",
                str(port),
                str(server.pid),
                str(meta["users"]),
                str(args.concurrency),
                str(args.seconds),
                str(out),
            ],
            env={**os.environ, "PYTHONPATH": str(bench.ROOT)},
            check=True,
            timeout=args.seconds + 120,
        )
    print(
        json.dumps(
            {"workers_started": args.workers, "concurrency": args.concurrency, **json.loads(out.read_text())}, indent=1
        )
    )


if __name__ == "__main__":
    main()
