"""Two API processes on one SQLite file (``serve --workers 2``): what one process changes, the other sees.

Each process keeps in-memory views (the recommender's catalog, memoised strategies and rules) and its
own rate-limit buckets. Changes reach the other process through change marks in the shared store
(``Hub.touch`` / ``Hub.version``), plan versions are serialised by a file lock, and each process holds
its share of a key's rate limit. These tests run two real servers on one data folder.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from contenthub.access import keys
from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import CHANGES_POLL_S, open_hub
from contenthub.library.models import AssetCreate
from contenthub.library.service import create_asset
from tests.server_proc import ServerProcess

CHANNEL = "wecom_1v1"


@pytest.fixture
def pair(settings: Settings, embedder: Embedder, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Two servers on one freshly seeded data folder; (their URLs, API keys by role)."""
    hub = open_hub(settings, embedder=embedder)
    for i in range(6):
        create_asset(
            hub,
            AssetCreate(
                title=f"护眼小课堂 第{i + 1}讲",
                body="每用眼20分钟，看远处20秒。",
                kind="article",
                content_type="educational",
                scenes=["education"],
                channels=[CHANNEL],
                tags=["护眼"],
                status="approved",
            ),
            "seed",
        )
    secrets = {role: keys.create_key(hub.store, role, f"two-{role}")[1] for role in ("editor", "bot")}
    hub.close()
    servers = [
        ServerProcess(
            settings.data_dir,
            log_path=tmp_path / f"server{i}.log",
            env_extra={"CONTENTHUB_RATE_LIMIT_PER_MINUTE": "100000"},
        )
        for i in range(2)
    ]
    try:
        for s in servers:
            s.start(timeout=180)
        yield [s.url for s in servers], secrets
    finally:
        for s in servers:
            s.stop()


def _next_ids(client: httpx.Client, url: str, bot: str) -> set[str]:
    r = client.get(
        f"{url}/v1/recommendations/users/u-two",
        params={"channel": CHANNEL, "n": 100},
        headers={"Authorization": f"Bearer {bot}"},
    )
    assert r.status_code == 200, r.text
    return {p["asset_id"] for p in r.json()["picks"]}


def _seen_within(check: callable, seconds: float) -> float:  # type: ignore[valid-type]
    """Seconds until ``check()`` holds (polled), or fail after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not seen by the other process within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_an_asset_added_or_archived_through_one_process_is_seen_by_the_other(
    pair: tuple[list[str], dict[str, str]],
) -> None:
    (a, b), secret = pair
    editor = {"Authorization": f"Bearer {secret['editor']}"}
    with httpx.Client(timeout=120) as client:
        before = _next_ids(client, b, secret["bot"])  # b builds its catalog now
        assert len(before) == 6
        r = client.post(
            f"{a}/v1/assets",
            headers=editor,
            json={
                "title": "新品：护眼台灯试用",
                "body": "护眼台灯免费试用，限时报名。",
                "kind": "article",
                "content_type": "promotional",
                "scenes": ["education"],
                "channels": [CHANNEL],
                "tags": ["护眼"],
                "status": "approved",
            },
        )
        assert r.status_code == 201, r.text
        new = r.json()["id"]
        waited = _seen_within(lambda: new in _next_ids(client, b, secret["bot"]), 10 * CHANGES_POLL_S + 5)
        r = client.post(f"{a}/v1/assets/{new}/archive", headers=editor)
        assert r.status_code == 200, r.text
        _seen_within(lambda: new not in _next_ids(client, b, secret["bot"]), 10 * CHANGES_POLL_S + 5)
    print(f"new asset recommended by the other process after {waited:.2f} s")


def test_plan_versions_written_through_both_processes_are_never_lost(pair: tuple[list[str], dict[str, str]]) -> None:
    urls, secret = pair
    editor = {"Authorization": f"Bearer {secret['editor']}"}
    week = "2026-12-07"

    def plan(i: int) -> tuple[int, int]:
        """Plan the week through one of the processes; a 409 (someone saved in between) is retried, as a
        client should. Returns (the version saved, 409s seen)."""
        for conflicts in range(30):
            r = httpx.post(
                f"{urls[i % 2]}/v1/plans",
                headers=editor,
                timeout=120,
                json={"week": week, "channels": [CHANNEL], "audiences": ["all"]},
            )
            if r.status_code != 409:
                assert r.status_code == 201, r.text
                return int(r.json()["version"]), conflicts
        pytest.fail("30 conflicts in a row")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(plan, range(6)))
    versions = sorted(v for v, _ in results)
    # Each save got its own version: two processes never both wrote "the next version" over each other.
    assert versions == [1, 2, 3, 4, 5, 6], results
    listed = httpx.get(f"{urls[0]}/v1/plans/{week}/versions", headers=editor, timeout=30).json()
    assert [v["version"] for v in listed] == [6, 5, 4, 3, 2, 1]


def _at_once(target: Callable[..., None], args: list[tuple[Any, ...]], *, timeout: float) -> None:
    """Run ``target(*a, start_at)`` for each ``a`` in its own spawned process, all starting their work at the
    same moment ``start_at`` (a few seconds ahead, past the imports); each must exit 0."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 4
    procs = [ctx.Process(target=target, args=(*a, start_at)) for a in args]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0


def _save_plans(data_dir: str, week: str, times: int, start_at: float) -> None:
    """In a separate process: save the week's plan ``times`` times as the next version, from ``start_at``."""
    from contenthub.publish import service

    hub = open_hub(Settings(data_dir=Path(data_dir), session_secret="two-processes"))
    try:
        plan = service.find_plan(hub, date.fromisoformat(week))
        assert plan is not None
        time.sleep(max(start_at - time.time(), 0))
        for _ in range(times):
            service.save_plan(hub, plan, None)  # no expected version: "whatever is current, plus one"
    finally:
        hub.close()


def test_plan_saves_from_two_processes_each_take_their_own_version(settings: Settings) -> None:
    """The version is read-check-write; without a lock across processes two saves can both write
    "current + 1" and one of them is lost. Two processes save 150 times each, at the same moment."""
    from contenthub.publish import service

    hub = open_hub(settings)
    try:
        first = service.generate(hub, date(2026, 12, 7), [CHANNEL], ["all"], "test")
    finally:
        hub.close()
    _at_once(_save_plans, [(str(settings.data_dir), "2026-12-07", 150)] * 2, timeout=120)
    hub = open_hub(settings)
    try:
        assert service.get_plan(hub, date(2026, 12, 7)).version == first.version + 300
    finally:
        hub.close()


def test_each_worker_holds_its_share_of_a_keys_rate_limit(settings: Settings, embedder: Embedder) -> None:
    from contenthub.deps import _limiter

    hub = open_hub(settings.model_copy(update={"rate_limit_per_minute": 600, "server_workers": 2}), embedder=embedder)
    try:
        limiter = _limiter(hub)
        assert limiter.rate == pytest.approx(300 / 60)  # 2 processes × 300 a minute = the configured 600
        allowed = sum(limiter.hit("k", now=0.0) == 0.0 for _ in range(200))
        assert allowed == 50  # a burst of 10 s worth of this process's share
    finally:
        hub.close()


def _ingest_batches(data_dir: str, worker: int, start_at: float) -> None:
    """One process's share: 12 batches of 300 events, half of their ids also sent by the other process."""
    from contenthub.recommend import events
    from contenthub.store import sqlite as sq

    sq.CHECKPOINT_EVENTS = 700  # background checkpoints between the batches, as under real load
    hub = open_hub(Settings(data_dir=Path(data_dir)))
    try:
        time.sleep(max(0.0, start_at - time.time()))
        for b in range(12):
            batch = [
                {
                    "id": f"two-{b}-{i}" if i % 2 else f"two-{worker}-{b}-{i}",
                    "type": "open",
                    "user_id": f"two-u{i % 40}",
                    "asset_id": "two-a",
                    "channel": CHANNEL,
                }
                for i in range(300)
            ]
            result = events.ingest(hub, batch)
            assert not result.rejected and result.accepted + result.duplicates == 300
    finally:
        hub.close()


def test_two_processes_ingesting_at_once_store_each_event_once(settings: Settings) -> None:
    """Both processes' batches queue for the one writer (the write-turn lock) while their checkpoint threads
    run: every event id is stored once, and the profile counters count each stored event once."""
    from contenthub.recommend import events
    from contenthub.store.query import EventQuery

    hub = open_hub(settings)
    try:
        hub.store.put_asset(
            {
                "id": "two-a",
                "title": "护眼",
                "kind": "article",
                "status": "approved",
                "tags": ["护眼"],
                "channels": [CHANNEL],
                "created_at": "2026-11-01T00:00:00Z",
                "updated_at": "2026-11-01T00:00:00Z",
            }
        )
        events.ingest(
            hub, [{"id": "two-seed", "type": "open", "user_id": "two-u0", "asset_id": "two-a", "channel": CHANNEL}]
        )
    finally:
        hub.close()
    _at_once(_ingest_batches, [(str(settings.data_dir), w) for w in range(2)], timeout=180)
    hub = open_hub(settings)
    try:
        stored = hub.store.query_events(EventQuery(channels=(CHANNEL,), limit=100_000))
        ids = [e["id"] for e in stored]
        assert len(ids) == len(set(ids)) == 1 + 12 * 150 + 2 * 12 * 150  # shared ids once, each process's own
        opens = sum(hub.store.get_counters("profile", f"two-u{i}").get("n:open", 0.0) for i in range(40))
        assert opens == len(ids)
    finally:
        hub.close()
