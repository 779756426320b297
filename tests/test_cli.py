"""The CLI: keys, JSON-lines import with line-numbered errors, and re-embedding after a model change."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contenthub.cli import app
from tests.helpers import asset

runner = CliRunner()


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    env = {"CONTENTHUB_DATA_DIR": str(tmp_path)}
    r = runner.invoke(app, ["keys", "create", "--role", "editor", "--name", "alice"], env=env)
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[0]
    assert key.startswith("chk_")
    listed = runner.invoke(app, ["keys", "list"], env=env).stdout
    assert "alice" in listed and "active" in listed
    key_id = key.split("_")[1]
    assert runner.invoke(app, ["keys", "revoke", key_id], env=env).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"], env=env).stdout
    bad = runner.invoke(app, ["keys", "create", "--role", "wizard"], env=env)
    assert bad.exit_code == 2 and "wizard" in bad.output


def test_import_reports_bad_lines_and_exits_nonzero(tmp_path: Path, settings) -> None:
    f = tmp_path / "assets.jsonl"
    f.write_text(
        "\n".join(
            [
                json.dumps(asset(title="好的一条"), ensure_ascii=False),
                "not json at all",
                json.dumps(asset(title="未知场景", scenes=["nope"]), ensure_ascii=False),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    env = {"CONTENTHUB_DATA_DIR": str(settings.data_dir), "CONTENTHUB_MODEL_PATH": str(settings.model_path)}
    r = runner.invoke(app, ["import", str(f)], env=env)
    assert r.exit_code == 1
    assert "imported 1" in r.stdout
    assert "line 2:" in r.output and "line 3:" in r.output and "nope" in r.output
    missing = runner.invoke(app, ["import", str(tmp_path / "missing.jsonl")], env=env)
    assert missing.exit_code == 1 and "No such file" in missing.output


def test_reembed_after_model_change(hub) -> None:
    from contenthub.library import service
    from contenthub.library.models import AssetCreate
    from contenthub.store.query import AssetFilter

    service.create_asset(hub, AssetCreate(title="护眼小课堂"), "t")
    assert hub.store.vector_model_ids() == {hub.embedder.model_id: 1}
    # pretend the stored vector came from another model: it must be re-embedded
    ids, vectors = hub.store.get_vectors([h.id for h in hub.store.filter_assets(AssetFilter()).hits])
    hub.store.put_vectors("old-model", dict(zip(ids, vectors, strict=True)))
    assert hub.store.assets_missing_vectors(hub.embedder.model_id)
    assert service.reembed_all(hub) == 1
    assert hub.store.vector_model_ids() == {hub.embedder.model_id: 1}


def test_recommend_batch_writes_a_line_per_user(hub, tmp_path: Path) -> None:
    from contenthub.audience import users
    from contenthub.library import service
    from contenthub.library.models import AssetCreate
    from contenthub.recommend import events

    ids = [
        service.create_asset(hub, AssetCreate(**asset(title=title, channels=["wecom_1v1"])), "t").id
        for title in ["护眼台灯开箱", "新人首单券", "会员日直播预告"]
    ]
    for u in ("u1", "u2", "u3"):
        users.ensure_user(hub, u)
    events.ingest(hub, [{"id": "e1", "type": "mute", "user_id": "u1", "asset_id": ids[0], "channel": "wecom_1v1"}])
    env = {"CONTENTHUB_DATA_DIR": str(hub.settings.data_dir), "CONTENTHUB_MODEL_PATH": str(hub.settings.model_path)}
    out = tmp_path / "picks.jsonl"
    r = runner.invoke(app, ["recommend", "batch", "--channel", "wecom_1v1", "--n", "3", "--out", str(out)], env=env)
    assert r.exit_code == 0, r.output
    lines = {x["target"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(lines) == {"u1", "u2", "u3"}
    assert {p["asset_id"] for p in lines["u2"]["picks"]} == set(ids)
    assert ids[0] not in {p["asset_id"] for p in lines["u1"]["picks"]}, "a muted asset is never picked"
    bad = runner.invoke(app, ["recommend", "batch", "--channel", "fax", "--out", str(out)], env=env)
    assert bad.exit_code == 2 and "fax" in bad.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3, "a refused run leaves the last file alone"
