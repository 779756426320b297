"""Kill a real server with SIGKILL in the middle of event batches, uploads and a re-plan; prove nothing
accepted was lost and nothing was left half-written. Shared by tests/test_crash_recovery.py (a few rounds)
and bench/crash.py (as many rounds as you like).

One round: start the server (a restart: migrations run, the media temp folder is swept), verify what the
previous round left, then drive five clients at once — two posting event batches, two uploading media with
a slow streamed body, one re-planning a week in a loop — and SIGKILL the server while uploads and a
re-plan are in flight: in the first round once some of everything was acknowledged and an upload body is
mid-stream; in later rounds soon after start, while uploads stream, wait for the model or are being embedded
(their file stored, their asset not yet). After the last round one more start verifies the last kill. What is checked after every kill:

- events: every batch the client got a 2xx for is stored in full; every other batch is stored in full or
  not at all (a batch is one transaction); per-user event counters equal the stored events (counted once);
- uploads: the media folder holds only complete files named by their own sha256, the temp folder is
  empty after start, and every upload answered 201 has its asset and its file;
- plans: the head version equals its history copy (same body, same version), no history version is newer
  than the head, and the head is at least the last acknowledged version (old or new, never a mix);
- the database passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import sqlite3
import struct
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from contenthub.store.sqlite import merge_counter_rows
from tests.server_proc import ServerProcess

UNLIMITED = {"CONTENTHUB_RATE_LIMIT_PER_MINUTE": str(10**9)}  # the harness measures recovery, not the rate limit

BATCH_EVENTS = 100
EVENT_TYPES = ("delivered", "open", "click", "share", "convert")
CHANNEL = "wecom_1v1"
PACE = 0.02
"""Pause between a client's requests: keeps writes flowing without starving the server's start-up of CPU."""


def prepare_data_dir(data_dir: Path, embedder: Any, n_assets: int = 12) -> dict[str, Any]:
    """A small library (approved, embedded), an admin key and a first plan, written in-process."""
    from contenthub.access import keys
    from contenthub.config import DEFAULT_MODEL_DIR, Settings
    from contenthub.hub import open_hub
    from contenthub.library.service import import_jsonl
    from contenthub.publish import service as publish

    model = Path(os.environ.get("CONTENTHUB_TEST_MODEL") or DEFAULT_MODEL_DIR)
    hub = open_hub(Settings(data_dir=data_dir, model_path=model, journeys_loop_seconds=0), embedder=embedder)
    try:
        scenes = ["education", "tutorial", "repurchase", "membership"]
        types = ["educational", "practical", "promotional", "entertainment"]
        lines = [
            json.dumps(
                {
                    "id": f"ca{i}",
                    "title": f"护眼科普第{i}课",
                    "body": "每用眼20分钟，远眺20秒。",
                    "kind": "article",
                    "content_type": types[i % 4],
                    "scenes": [scenes[i % 4]],
                    "channels": [CHANNEL, "wecom_group", "mp_subscription", "moments"],
                    "tags": ["护眼"],
                    "status": "approved",
                },
                ensure_ascii=False,
            )
            for i in range(n_assets)
        ]
        report = import_jsonl(hub, lines, "crash-prep")
        assert report.ok, report.errors
        _, admin = keys.create_key(hub.store, "admin", "crash-admin")
        week = date.today() + timedelta(days=21)
        plan = publish.generate(hub, week, [CHANNEL, "wecom_group", "mp_subscription", "moments"], None, "crash-prep")
    finally:
        hub.close()
    return {"admin": admin, "week": plan.week_start.isoformat(), "assets": [f"ca{i}" for i in range(n_assets)]}


def png_payload(rng: random.Random, size: int) -> bytes:
    """A real PNG header (so the bytes type as image/png) followed by random bytes: unique per call."""
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return head + rng.randbytes(size - len(head))


@dataclass
class RoundLog:
    """What the clients saw in one round: acknowledged and unknown outcomes."""

    batches_acked: list[str] = field(default_factory=list)
    batches_unknown: list[str] = field(default_factory=list)
    uploads_acked: dict[str, str] = field(default_factory=dict)  # sha256 -> asset id
    uploads_unknown: list[str] = field(default_factory=list)
    plan_versions_acked: list[int] = field(default_factory=list)
    replans_unknown: int = 0
    upload_streaming: int = 0
    upload_in_flight: int = 0
    replan_started_at: float | None = None
    replan_seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class CrashReport:
    rounds: int = 0
    kills: int = 0
    kills_mid_upload: int = 0
    kills_mid_upload_stream: int = 0
    kills_mid_replan: int = 0
    batches_acked: int = 0
    batches_unacked: int = 0
    batches_unacked_stored: int = 0
    events_acked: int = 0
    uploads_acked: int = 0
    uploads_unacked: int = 0
    replans_acked: int = 0
    replans_unacked: int = 0
    media_files_checked: int = 0
    lost_events: int = 0
    half_written_batches: int = 0
    counter_mismatches: int = 0
    lost_uploads: int = 0
    partial_media_files: int = 0
    temp_files_left: int = 0
    plan_mixes: int = 0
    lost_plan_versions: int = 0
    integrity_failures: int = 0
    seconds: float = 0.0
    start_seconds: list[float] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return (
            self.lost_events
            + self.half_written_batches
            + self.counter_mismatches
            + self.lost_uploads
            + self.partial_media_files
            + self.temp_files_left
            + self.plan_mixes
            + self.lost_plan_versions
            + self.integrity_failures
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        out["seconds"] = round(self.seconds, 1)
        out["start_seconds"] = [round(x, 1) for x in self.start_seconds]
        out["round_seconds"] = [round(x, 1) for x in self.round_seconds]
        out["lost"] = self.lost
        out["problems"] = self.problems[:20]
        return out


# ---- clients ----------------------------------------------------------------------------------------------------------


def _events_client(url: str, key: str, tag: str, log: RoundLog, stop: threading.Event, assets: list[str]) -> None:
    rng = random.Random(tag)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        n = 0
        while not stop.is_set():
            batch_id = f"{tag}-b{n:04d}"
            n += 1
            events = [
                {
                    "id": f"{batch_id}-{i:03d}",
                    "type": rng.choice(EVENT_TYPES),
                    "user_id": f"cu-{rng.randrange(20)}",
                    "asset_id": rng.choice(assets),
                    "channel": CHANNEL,
                    **({"value": 9.9} if i % 10 == 0 else {}),
                }
                for i in range(BATCH_EVENTS)
            ]
            try:
                r = c.post("/v1/events", json={"events": events})
            except httpx.HTTPError:
                with log.lock:
                    log.batches_unknown.append(batch_id)
                return
            with log.lock:
                if r.status_code == 200 and r.json()["accepted"] == BATCH_EVENTS:
                    log.batches_acked.append(batch_id)
                else:
                    log.batches_unknown.append(batch_id)
            time.sleep(PACE)


def _multipart(boundary: str, title: str, payload: bytes) -> tuple[bytes, bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="status"\r\n\r\napproved\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="poster.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + payload, f"\r\n--{boundary}--\r\n".encode()


def _upload_client(url: str, key: str, tag: str, log: RoundLog, stop: threading.Event) -> None:
    rng = random.Random(tag)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        n = 0
        while not stop.is_set():
            payload = png_payload(rng, rng.randrange(200_000, 700_000))
            sha = hashlib.sha256(payload).hexdigest()
            boundary = secrets.token_hex(8)
            body, tail = _multipart(boundary, f"海报 {tag}-{n}", payload)
            n += 1

            def slow(body: bytes = body, tail: bytes = tail) -> Iterator[bytes]:
                # stream in 32 KB pieces with small pauses: the kill can land while the body is arriving
                with log.lock:
                    log.upload_streaming += 1
                try:
                    for i in range(0, len(body), 32 * 1024):
                        yield body[i : i + 32 * 1024]
                        time.sleep(0.005)
                    yield tail
                finally:
                    with log.lock:
                        log.upload_streaming -= 1

            with log.lock:
                log.upload_in_flight += 1
            try:
                r = c.post(
                    "/v1/assets/upload",
                    content=slow(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
            except httpx.HTTPError:
                with log.lock:
                    log.uploads_unknown.append(sha)
                return
            with log.lock:
                log.upload_in_flight -= 1
                if r.status_code == 201:
                    log.uploads_acked[sha] = r.json()["id"]
                else:
                    log.uploads_unknown.append(sha)


def _plan_client(url: str, key: str, week: str, log: RoundLog, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        while not stop.is_set():
            started = time.monotonic()
            with log.lock:
                log.replan_started_at = started
            try:
                r = c.post(f"/v1/plans/{week}/replan", json={})
            except httpx.HTTPError:
                with log.lock:
                    log.replans_unknown += 1
                return
            with log.lock:
                log.replan_started_at = None
                if r.status_code == 200:
                    log.plan_versions_acked.append(r.json()["version"])
                    log.replan_seconds.append(time.monotonic() - started)
                else:
                    log.replans_unknown += 1
            time.sleep(PACE)


# ---- verification -------------------------------------------------------------------------------------------------------


def _db(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / "contenthub.db", timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def verify(data_dir: Path, week: str, log: RoundLog, last_acked_version: int, report: CrashReport) -> None:
    """Check everything the module docstring lists against the data directory of a restarted server."""
    conn = _db(data_dir)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            report.integrity_failures += 1
            report.problems.append("integrity_check failed")
        # events: batches whole or absent
        per_batch: Counter[str] = Counter()
        for (event_id,) in conn.execute("SELECT id FROM events WHERE id LIKE 'r%-b%'"):
            per_batch[event_id.rsplit("-", 1)[0]] += 1
        for b in log.batches_acked:
            report.events_acked += BATCH_EVENTS
            if per_batch.get(b, 0) != BATCH_EVENTS:
                report.lost_events += BATCH_EVENTS - per_batch.get(b, 0)
                report.problems.append(f"acked batch {b} has {per_batch.get(b, 0)} of {BATCH_EVENTS} events")
        for b in log.batches_unknown:
            got = per_batch.get(b, 0)
            if got not in (0, BATCH_EVENTS):
                report.half_written_batches += 1
                report.problems.append(f"unacked batch {b} is half-written: {got} of {BATCH_EVENTS}")
            report.batches_unacked_stored += got == BATCH_EVENTS
        report.batches_acked += len(log.batches_acked)
        report.batches_unacked += len(log.batches_unknown)
        # counters: n:<type> per crash user equals stored events (exactly once, same transaction)
        stored: dict[tuple[str, str], float] = defaultdict(float)
        for user, etype, n in conn.execute(
            "SELECT user_id, type, COUNT(*) FROM events WHERE user_id LIKE 'cu-%' GROUP BY user_id, type"
        ):
            stored[(user, f"n:{etype}")] = float(n)
        rows: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for k, f, v in conn.execute(
            "SELECT key, field, value FROM counters WHERE collection='profile' AND key LIKE 'cu-%'"
        ):
            rows[k].append((f, v))  # plain and packed rows (the store's layout; merge_counter_rows adds them up)
        counted = {(k, f): v for k, kr in rows.items() for f, v in merge_counter_rows(kr).items() if f.startswith("n:")}
        for k in set(stored) | set(counted):
            if abs(stored.get(k, 0.0) - counted.get(k, 0.0)) > 1e-9:
                report.counter_mismatches += 1
                report.problems.append(f"counter {k}: events {stored.get(k, 0)} vs counter {counted.get(k, 0)}")
        # uploads
        media = data_dir / "media"
        leftovers = [p.name for p in (media / ".tmp").iterdir()] if (media / ".tmp").exists() else []
        report.temp_files_left += len(leftovers)
        if leftovers:
            report.problems.append(f"temp files left after start: {leftovers[:5]}")
        for path in media.rglob("*"):
            if path.is_dir() or ".tmp" in path.parts:
                continue
            report.media_files_checked += 1
            if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
                report.partial_media_files += 1
                report.problems.append(f"media file {path.name} does not match its hash (partial?)")
        for sha, asset_id in log.uploads_acked.items():
            row = conn.execute("SELECT body FROM assets WHERE id=?", (asset_id,)).fetchone()
            media_ok = row is not None and (json.loads(row[0]).get("media") or {}).get("sha256") == sha
            if not media_ok or not (media / sha[:2] / sha[2:4] / sha).exists():
                report.lost_uploads += 1
                report.problems.append(f"acked upload {asset_id} ({sha[:12]}) is missing")
        report.uploads_acked += len(log.uploads_acked)
        report.uploads_unacked += len(log.uploads_unknown)
        # plans: head == its history copy, nothing newer than the head, at least the last acked version
        head_row = conn.execute("SELECT body FROM docs WHERE collection='plans' AND id=?", (week,)).fetchone()
        head = json.loads(head_row[0])
        version = head["info"]["version"]
        hist = {
            json.loads(b)["info"]["version"]: json.loads(b)
            for (b,) in conn.execute("SELECT body FROM docs WHERE collection='plans' AND id LIKE ?", (f"{week}@v%",))
        }
        if head["plan"]["version"] != version or hist.get(version, {}).get("plan") != head["plan"]:
            report.plan_mixes += 1
            report.problems.append(f"plan head v{version} differs from its history copy")
        if max(hist) != version:
            report.plan_mixes += 1
            report.problems.append(f"history has v{max(hist)} but the head is v{version}")
        acked = max([last_acked_version, *log.plan_versions_acked])
        if version < acked:
            report.lost_plan_versions += 1
            report.problems.append(f"plan head v{version} is older than the acknowledged v{acked}")
        report.replans_acked += len(log.plan_versions_acked)
        report.replans_unacked += log.replans_unknown
    finally:
        conn.close()


# ---- rounds ---------------------------------------------------------------------------------------------------------------


def _wait_for_kill_moment(
    log: RoundLog, deadline: float, rng: random.Random, need_upload: bool
) -> tuple[bool, bool, bool]:
    """Wait until event batches and re-plans (and, when `need_upload`, two uploads) were acknowledged and an
    upload is mid-stream; then aim the kill inside a re-plan (a random fraction of a typical re-plan's
    duration after it started). Rounds without `need_upload` kill soon after start, often while the first
    upload waits for the model or is being embedded — after its file was stored but before its asset was."""
    while time.monotonic() < deadline:
        with log.lock:
            ready = log.batches_acked and log.plan_versions_acked and (len(log.uploads_acked) >= 2 or not need_upload)
            uploading = log.upload_streaming > 0 if need_upload else log.upload_in_flight > 0
            started = log.replan_started_at
            typical = sorted(log.replan_seconds)[len(log.replan_seconds) // 2] if log.replan_seconds else 0.1
        if ready and uploading and started is not None:
            aim = started + rng.uniform(0.2, 0.8) * typical
            time.sleep(max(0.0, aim - time.monotonic()))
            break
        time.sleep(0.005)
    with log.lock:
        return log.upload_in_flight > 0, log.upload_streaming > 0, log.replan_started_at is not None


def run_crash_rounds(
    data_dir: Path, prep: dict[str, Any], rounds: int, *, seed: int = 8, round_timeout: float = 180.0
) -> CrashReport:
    report = CrashReport()
    rng = random.Random(seed)
    started = time.monotonic()
    server = ServerProcess(data_dir, env_extra=UNLIMITED)
    previous: RoundLog | None = None
    last_acked = 1
    try:
        for r in range(rounds + 1):
            t0 = time.monotonic()
            server = ServerProcess(data_dir, log_path=data_dir.parent / "server.log", env_extra=UNLIMITED).start()
            report.start_seconds.append(time.monotonic() - t0)
            if previous is not None:
                verify(data_dir, prep["week"], previous, last_acked, report)
                last_acked = max([last_acked, *previous.plan_versions_acked])
            if r == rounds:
                break
            log = RoundLog()
            stop = threading.Event()
            key, url = prep["admin"], server.url
            threads = [
                threading.Thread(target=_events_client, args=(url, key, f"r{r}-e{i}", log, stop, prep["assets"]))
                for i in range(2)
            ]
            threads += [
                threading.Thread(target=_upload_client, args=(url, key, f"r{r}-u{i}", log, stop)) for i in range(2)
            ]
            threads.append(threading.Thread(target=_plan_client, args=(url, key, prep["week"], log, stop)))
            for t in threads:
                t.start()
            mid_upload, mid_stream, mid_replan = _wait_for_kill_moment(
                log, time.monotonic() + round_timeout, rng, need_upload=r == 0
            )
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            report.kills += 1
            report.kills_mid_upload += mid_upload
            report.kills_mid_upload_stream += mid_stream
            report.kills_mid_replan += mid_replan
            report.rounds += 1
            report.round_seconds.append(time.monotonic() - t0)
            previous = log
    finally:
        server.stop()
    report.seconds = time.monotonic() - started
    return report
