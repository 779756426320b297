"""`contenthub demo`: a realistic Chinese private-domain data set so every page has something to show.

Assets come from the generator in ``library.demo_corpus``; users, groups and weeks of engagement
are simulated by the recommender's demo module through the same service functions the API uses, so the demo also exercises the real write paths.
"""

from __future__ import annotations

import io
import json

from tqdm import tqdm

from contenthub import demo_showcase
from contenthub.access import keys
from contenthub.dashboard import service as dashboard_service
from contenthub.hub import Hub
from contenthub.library import service, tagging
from contenthub.library.demo_corpus import generate_assets, generate_media_bytes
from contenthub.library.models import AssetCreate
from contenthub.recommend import demo as recommend_demo
from contenthub.store.query import AssetFilter

KEYS_FILE = "demo-keys.txt"


def _load_assets(hub: Hub, n: int, progress: bool) -> int:
    docs = generate_assets(n)
    lines = []
    for i, a in enumerate(docs):
        # Most of a live library is approved; keep some drafts and archived items for the filters.
        status = "draft" if i % 17 == 5 else "archived" if i % 29 == 7 else "approved"
        lines.append(json.dumps({"id": f"demo-{i:05d}", **a, "status": status}, ensure_ascii=False))
    with tqdm(total=len(lines), unit="asset", desc="demo assets", disable=not progress) as bar:
        report = service.import_jsonl(hub, lines, "demo", progress=bar.update)
    # A few assets carry real media files so previews show something.
    for i, a in enumerate(docs[:60]):
        media = generate_media_bytes(a["kind"], seed=i)
        if media is None:
            continue
        data, filename = media
        asset_id = f"demo-m{i:03d}"
        if hub.store.get_asset(asset_id) is None:
            service.create_asset(
                hub,
                AssetCreate.model_validate({**a, "title": a["title"] + "（素材文件）", "status": "approved"}),
                "demo",
                asset_id=asset_id,
                upload=io.BytesIO(data),
                filename=filename,
            )
    # the demo's confirmed tags are the suggester's training set: the first upload gets learned suggestions
    tagging.train_if_due(hub)
    return report.imported


def _demo_keys(hub: Hub) -> list[str]:
    path = hub.settings.data_dir / KEYS_FILE
    if path.exists():
        return path.read_text().splitlines()
    lines = []
    for role in ("admin", "editor", "bot", "viewer"):
        _, secret = keys.create_key(hub.store, role, f"demo {role}")
        lines.append(f"{role}\t{secret}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return lines


def load_demo(
    hub: Hub,
    *,
    n_assets: int = 400,
    n_users: int = 600,
    force: bool = False,
    progress: bool = False,
    showcase: bool = True,
) -> list[str]:
    out: list[str] = []
    existing = hub.store.count_assets(AssetFilter())
    if existing and not force:
        out.append(f"library already has {existing} assets; not loading demo assets again (use --force)")
    else:
        out.append(f"loaded {_load_assets(hub, n_assets, progress)} demo assets")
    out.extend(recommend_demo.load_demo(hub, n_users=n_users, progress=progress, force=force))
    refreshed = dashboard_service.refresh(hub)  # the value model, and predicted value on users for segments
    out.append(
        f"dashboard: {refreshed['users']} users over {refreshed['weeks']} weeks; predicted value on "
        f"{refreshed['attributes_written']} users"
        + (f" ({refreshed['model_missing']})" if refreshed["model_missing"] else "")
    )
    if showcase:  # this week's plan, two finished experiments, two journeys with funnels (demo_showcase)
        out.extend(demo_showcase.load_showcase(hub))
    out.append(f"API keys (also in {hub.settings.data_dir / KEYS_FILE}):")
    out.extend("  " + line for line in _demo_keys(hub))
    return out
