"""`contenthub store copy`: everything arrives, versions survive, and the check notices a difference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from contenthub.audience import users
from contenthub.audience.models import Identity
from contenthub.cli import app
from contenthub.config import PHONE_SALT_FILE, SESSION_SECRET_FILE, Settings
from contenthub.hub import open_hub
from contenthub.store.base import Store
from contenthub.store.copy import copy_store, verify
from contenthub.store.elastic import ElasticStore
from contenthub.store.query import AssetFilter, EventQuery
from tests.es_support import es_url, unique_prefix
from tests.test_store_contract import event, make_asset, open_test_store, unit

BACKENDS = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.es)]


def seed(store: Store) -> None:
    store.put_doc("plans", "w1", {"kind": "head", "n": 1})
    store.put_doc("plans", "w1", {"kind": "head", "n": 2})  # version 2 must survive the copy
    store.put_doc("keys", "k1", {"role": "bot", "名字": "机器人"})
    store.put_assets([make_asset(f"a{i}", f"护眼小课堂 {i}", tags=["护眼"]) for i in range(5)])
    store.put_vectors("m1", {f"a{i}": unit(1, i, 0) for i in range(4)})
    store.put_vectors("m2", {"a4": unit(0, 0, 1)})
    store.add_events(
        [event(f"e{i}", "click", user=f"u{i % 3}", asset=f"a{i % 5}", minutes=i) for i in range(12)]
        + [event("g1", "open", user=None, group_id="grp", asset="a1")]
    )
    store.add_to_counters("profile", [("u1", "t:护眼", 1.25), ("u2", "n:click", 3.0)])
    store.add_to_counters("popularity", [("*", "a1", 0.5)])
    tmp = store.media_tmp_dir() / "upload-seed"
    tmp.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    store.put_media_file(tmp, "ef" * 32, 48, "image/png")


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Store]:
    s = open_test_store("sqlite", tmp_path / "src")
    seed(s)
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_test_store(request.param, tmp_path / "dst")
    yield s
    if s.backend == "elasticsearch":
        s.drop()  # type: ignore[attr-defined]
    s.close()


def test_copy_everything_and_verify(source: Store, target: Store) -> None:
    report = copy_store(source, target, progress=False, sample=100)
    assert report.ok, report.lines()
    assert report.counts["docs:plans"] == (1, 1) and report.counts["events"] == (13, 13)
    assert report.counts["vectors:m1"] == (4, 4) and report.counts["media"] == (1, 1)
    assert report.checked >= 5 + 5 + 13 + 3
    assert target.get_doc_version("plans", "w1") == ({"kind": "head", "n": 2}, 2)
    assert target.put_doc("plans", "w1", {"n": 3}, expected_version=2) == 3, "clients' versions stay valid"
    assert target.get_counters("profile", "u1") == {"t:护眼": 1.25}
    assert target.count_events(EventQuery(group_ids=("grp",))) == 1
    assert [h.id for h in target.knn_assets(unit(1, 0, 0), AssetFilter(), k=1)] == ["a0"]
    assert target.media_path("ef" * 32).read_bytes().startswith(b"\x89PNG")  # type: ignore[union-attr]
    again = copy_store(source, target, progress=False)
    assert again.ok and again.counts["events"] == (13, 13), "running it twice changes nothing"


def test_verify_reports_differences(source: Store, target: Store) -> None:
    copy_store(source, target, progress=False)
    target.put_doc("plans", "w1", {"kind": "head", "n": 99})
    target.add_to_counters("profile", [("u2", "n:click", 1.0)])
    samples: dict[str, list[Any]] = {
        "docs": [("plans", "w1", {"kind": "head", "n": 2}, 2)],
        "counters": [("profile", "u2")],
    }
    report = verify(source, target, samples)
    assert not report.ok
    assert any("plans/w1" in p for p in report.problems) and any("sums differ" in p for p in report.problems)


@pytest.mark.es
def test_cli_copies_sqlite_to_elasticsearch_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = es_url()
    src = open_test_store("sqlite", tmp_path / "a")
    seed(src)
    src.close()
    prefix = unique_prefix()
    monkeypatch.setenv("CONTENTHUB_DATA_DIR", str(tmp_path / "es-data"))
    runner = CliRunner()
    try:
        sqlite_a = f"sqlite:///{tmp_path / 'a' / 'data' / 'contenthub.db'}"
        r = runner.invoke(app, ["store", "init", url, "--prefix", prefix])
        assert r.exit_code == 0, r.output
        assert f"{prefix}-events-v1" in r.output
        r = runner.invoke(app, ["store", "copy", sqlite_a, url, "--dst-prefix", prefix])
        assert r.exit_code == 0, r.output
        assert "copy verified" in r.output and "MISMATCH" not in r.output
        r = runner.invoke(app, ["store", "copy", sqlite_a, url, "--dst-prefix", prefix])
        assert r.exit_code == 2 and "--force" in r.output, "never copies into a store that holds data by accident"
        sqlite_b = f"sqlite:///{tmp_path / 'b' / 'contenthub.db'}"
        r = runner.invoke(app, ["store", "copy", url, sqlite_b, "--src-prefix", prefix])
        assert r.exit_code == 0, r.output
        from contenthub.store.sqlite import SQLiteStore

        b = SQLiteStore(tmp_path / "b" / "contenthub.db", tmp_path / "b" / "media")
        assert b.get_doc_version("plans", "w1") == ({"kind": "head", "n": 2}, 2)
        assert b.count_events() == 13 and b.vector_model_ids() == {"m1": 4, "m2": 1}
        ids, mat = b.get_vectors(["a1"])
        assert ids == ["a1"] and np.allclose(mat[0], unit(1, 1, 0))
        assert (tmp_path / "b" / "media" / "ef" / "ef" / ("ef" * 32)).exists()
        b.close()
    finally:
        from contenthub.config import Settings
        from contenthub.store.elastic import ElasticStore

        es = ElasticStore(url, Settings(data_dir=tmp_path / "es-data"), prefix=prefix)
        es.drop()
        es.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_copy_into_a_new_data_folder_keeps_phone_lookups(backend: str, tmp_path: Path) -> None:
    """Phone identities are stored as salted hashes: the salt (and the session secret) must travel with
    the data, or every phone look-up that worked before answers 404 in the new data folder."""
    phone = Identity(type="phone", value="+86 138 0013 8000")
    old = Settings(data_dir=tmp_path / "old")
    hub = open_hub(old)
    user_id = users.resolve_identity(hub, phone)
    assert users.resolve_identity(hub, phone, create=False) == user_id
    (old.data_dir / SESSION_SECRET_FILE).write_text("signed-sessions")
    hub.close()

    new_dir = tmp_path / "new"
    prefix = unique_prefix()
    dst = f"sqlite:///{new_dir / 'contenthub.db'}" if backend == "sqlite" else es_url()
    runner = CliRunner()
    args = ["store", "copy", old.resolved_store_url(), dst, "--dst-data", str(new_dir), "--dst-prefix", prefix]
    try:
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert f"secret {PHONE_SALT_FILE}: copied to {new_dir}" in r.output
        assert f"secret {SESSION_SECRET_FILE}: copied to {new_dir}" in r.output
        assert (new_dir / PHONE_SALT_FILE).stat().st_mode & 0o777 == 0o600
        new = Settings(data_dir=new_dir, store_url=dst, es_index_prefix=prefix)
        moved = open_hub(new)
        try:
            assert users.resolve_identity(moved, phone, create=False) == user_id
        finally:
            if backend == "elasticsearch":
                moved.store.drop()  # type: ignore[attr-defined]
            moved.close()
    finally:
        if backend == "elasticsearch":
            es = ElasticStore(dst, Settings(data_dir=new_dir), prefix=prefix)
            es.drop()
            es.close()


def test_copy_stops_before_overwriting_a_different_secret(tmp_path: Path) -> None:
    src_dir, dst_dir = tmp_path / "a", tmp_path / "b"
    s = open_test_store("sqlite", src_dir)
    seed(s)
    s.close()
    src_db = next(src_dir.rglob("contenthub.db"))
    (src_db.parent / PHONE_SALT_FILE).write_text("salt-a")
    dst_dir.mkdir()
    (dst_dir / PHONE_SALT_FILE).write_text("salt-b")
    runner = CliRunner()
    args = ["store", "copy", f"sqlite:///{src_db}", f"sqlite:///{dst_dir / 'contenthub.db'}"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "--replace-secrets" in r.output, r.output
    assert not (dst_dir / "contenthub.db").exists(), "nothing is copied when a secret would not match"
    r = runner.invoke(app, [*args, "--replace-secrets"])
    assert r.exit_code == 0, r.output
    assert (dst_dir / PHONE_SALT_FILE).read_text() == "salt-a"
    assert [p.read_text() for p in dst_dir.glob(f"{PHONE_SALT_FILE}.replaced-*")] == ["salt-b"]
