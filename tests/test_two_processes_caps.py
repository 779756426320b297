"""Two API processes on one Elasticsearch cluster, a bot hammering both: the frequency cap holds and no
asset is served twice.

Why this holds: a pick with ``reserve=true`` takes its cap slot and its "sent" marker with
``put_doc(..., expected_version=0)`` — an ``op_type=create`` that Elasticsearch decides atomically on
the document's primary shard, whichever process asks. No refresh and no in-process lock is involved,
so a second process cannot race past it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from contenthub.access import keys
from contenthub.audience import caps
from contenthub.config import PROJECT_ROOT, Settings
from contenthub.embeddings import Embedder
from contenthub.hub import open_hub
from contenthub.library.models import AssetCreate
from contenthub.library.service import create_asset
from tests.es_support import es_url, require_module, unique_prefix

pytestmark = pytest.mark.es
require_module()

REQUESTS = 200
PER_DAY = 3
PATH = "/v1/recommendations/users/{user}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "contenthub.asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server on {url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server on {url} not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def cluster_setup(settings: Settings, embedder: Embedder) -> Iterator[tuple[Settings, str]]:
    """Seed one store (assets, a cap of PER_DAY a day on wecom_1v1, a bot key); drop it afterwards."""
    settings = settings.model_copy(update={"store_url": es_url(), "es_index_prefix": unique_prefix()})
    hub = open_hub(settings, embedder=embedder)
    try:
        for i in range(8):
            create_asset(
                hub,
                AssetCreate(
                    title=f"护眼小课堂 第{i + 1}讲",
                    body="每用眼20分钟，看远处20秒。",
                    kind="article",
                    content_type="educational",
                    scenes=["education"],
                    channels=["wecom_1v1"],
                    tags=["护眼"],
                    status="approved",
                ),
                "seed",
            )
        caps.put_rule(hub, caps.CapRule(channel="wecom_1v1", per_day=PER_DAY, per_month=caps.DAYS_IN_MONTH))
        _, bot_key = keys.create_key(hub.store, "bot", "two-processes")
        yield settings, bot_key
    finally:
        hub.store.drop()  # type: ignore[attr-defined]
        hub.close()


@pytest.fixture
def two_servers(cluster_setup: tuple[Settings, str], tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    settings, bot_key = cluster_setup
    env = {
        **os.environ,
        "CONTENTHUB_STORE_URL": settings.store_url,
        "CONTENTHUB_ES_INDEX_PREFIX": settings.es_index_prefix,
        "CONTENTHUB_DATA_DIR": str(settings.data_dir),
        "CONTENTHUB_MODEL_PATH": str(settings.model_path),
        "CONTENTHUB_SESSION_SECRET": "two-processes",
        "CONTENTHUB_RATE_LIMIT_PER_MINUTE": "100000",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(2):
            port = free_port()
            log = tmp_path / f"server{i}.log"
            procs.append(start_server(port, env, log))
            urls.append(f"http://127.0.0.1:{port}")
            wait_healthy(urls[-1], procs[-1], log)
        yield urls, bot_key
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cap_and_no_repeat_hold_across_two_processes(two_servers: tuple[list[str], str]) -> None:
    urls, bot_key = two_servers
    spec = httpx.get(f"{urls[0]}/openapi.json", timeout=30).json()
    params = {p["name"] for p in spec["paths"][PATH.replace("{user}", "{user_id}")]["get"].get("parameters", [])}
    if "reserve" not in params:
        pytest.skip(
            "GET /v1/recommendations/users/{id} has no `reserve` parameter yet (cap reservations are "
            "being added to contenthub/recommend); this test runs once it exists"
        )

    headers = {"Authorization": f"Bearer {bot_key}"}
    with httpx.Client(headers=headers, timeout=120, limits=httpx.Limits(max_connections=64)) as client:
        for url in urls:  # warm both catalogs first, so the burst measures the reservation path
            assert client.get(url + PATH.format(user="warmup"), params={"channel": "wecom_1v1"}).status_code == 200

        def ask(i: int) -> tuple[int, dict[str, object]]:
            r = client.get(
                urls[i % 2] + PATH.format(user="u-hammer"), params={"channel": "wecom_1v1", "reserve": "true", "n": 1}
            )
            return r.status_code, r.json()

        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(ask, range(REQUESTS)))

    statuses = Counter(code for code, _ in results)
    assert statuses == {200: REQUESTS}, statuses
    served = [p["asset_id"] for _, body in results for p in body["picks"]]  # type: ignore[union-attr]
    by_process = Counter(i % 2 for i, (_, body) in enumerate(results) if body["picks"])
    assert 1 <= len(served) <= PER_DAY, f"cap of {PER_DAY} a day broken: {len(served)} picks served"
    assert len(set(served)) == len(served), f"an asset was served twice: {Counter(served).most_common(3)}"
    capped = sum(1 for _, body in results if body.get("capped"))
    print(f"served {len(served)} (by process {dict(by_process)}), capped {capped} of {REQUESTS}")
