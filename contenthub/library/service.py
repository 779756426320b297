"""Asset lifecycle: create, read, update, archive, bulk import — with validation against the taxonomy
and an embedding + tag suggestion for every text change."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from pydantic import ValidationError

from contenthub import audit, clock
from contenthub.errors import ConflictError, InvalidError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import ocr, ocr_jobs, seasonal, tagging, taxonomy
from contenthub.library.asset_locks import asset_lock
from contenthub.library.media import kind_for_mime, store_upload
from contenthub.library.models import Asset, AssetCreate, AssetFields, AssetUpdate, MediaRef
from contenthub.limits import loads_json
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

OCR_KINDS = ("poster", "file")
"""Kinds an upload of an image or PDF gets (media.kind_for_mime): where a stopped read can be pending."""
ID_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
FACET_FIELDS = (("scenes", "scenes"), ("channels", "channels"), ("stages", "stages"))


def new_asset_id() -> str:
    return "a_" + secrets.token_hex(8)


def asset_text(a: dict[str, Any]) -> str:
    """What the model reads for an asset: title first (most telling), then tags, body and the text printed
    on its media (OCR)."""
    parts = [a.get("title") or "", " ".join(a.get("tags") or []), a.get("body") or "", a.get("media_text") or ""]
    return "\n".join(p for p in parts if p)[:2000]


def _validate_vocab(hub: Hub, fields: AssetFields) -> None:
    store = hub.store
    for attr, facet in FACET_FIELDS:
        values = getattr(fields, attr)
        if values is not None:
            setattr(fields, attr, taxonomy.validate_values(store, attr, facet, values))
    if fields.kind is not None:
        taxonomy.validate_values(store, "kind", "kinds", [fields.kind])
    if fields.content_type is not None:
        taxonomy.validate_values(store, "content_type", "content_types", [fields.content_type])


def _iso(dt: datetime | None) -> str | None:
    return to_iso(dt) if dt else None


def _campaign_window(hub: Hub, fields: AssetFields) -> None:
    """Resolve a campaign link into the asset's effective window, so every picker (the recommender's candidate
    mask, the planner) honours it through valid_from/valid_until alone."""
    if fields.campaign is None:
        return
    try:
        fields.valid_from, fields.valid_until = seasonal.resolve_campaign(
            fields.campaign, clock.current(hub), hub.settings.timezone
        )
    except ValueError as exc:
        raise InvalidError(str(exc), field="campaign.occasion", value=fields.campaign.occasion) from None


def _build(hub: Hub, data: AssetCreate, actor: str, asset_id: str | None, media: MediaRef | None) -> dict[str, Any]:
    _validate_vocab(hub, data)
    _campaign_window(hub, data)
    now = to_iso(utcnow())
    return Asset(
        id=asset_id or new_asset_id(),
        title=data.title,
        body=data.body or "",
        kind=data.kind,
        content_type=data.content_type,
        scenes=data.scenes or [],
        channels=data.channels or [],
        tags=data.tags or [],
        stages=data.stages or [],
        status=data.status or "draft",
        valid_from=_iso(data.valid_from),
        valid_until=_iso(data.valid_until),
        campaign=data.campaign,
        url=data.url,
        media=media,
        created_by=actor,
        created_at=now,
        updated_by=actor,
        updated_at=now,
        version=1,
    ).model_dump()


def save_built_assets(hub: Hub, assets: list[dict[str, Any]]) -> None:
    """Store asset documents with their vectors and fresh suggestions (kept apart from tags).

    Public for callers that build the documents themselves — the simulators back-date `created_at` — so no
    asset reaches the store without a vector and the first `serve` does not have to re-embed them."""
    if not assets:
        return
    emb = hub.embedder
    vecs = emb.encode_passages([asset_text(a) for a in assets])
    for a, v in zip(assets, vecs, strict=True):
        a["suggestions"] = tagging.suggest(hub, v, text=asset_text(a), exclude_id=a["id"]).model_dump(mode="json")
    hub.store.put_assets(assets, model_id=emb.model_id, vectors={a["id"]: v for a, v in zip(assets, vecs, strict=True)})
    hub.touch("assets")


def _save_one(hub: Hub, doc: dict[str, Any]) -> None:
    save_built_assets(hub, [doc])


def resume_ocr(hub: Hub) -> int:
    """Queue again the media reads a stopped process left pending or running (on server start)."""
    queued = offset = 0
    while True:
        page = hub.store.filter_assets(AssetFilter(kinds=OCR_KINDS), sort="created_desc", limit=1000, offset=offset)
        docs = hub.store.get_assets([h.id for h in page.hits])
        for doc in docs.values():
            if (doc.get("ocr") or {}).get("status") in ("pending", "running"):
                ocr_jobs.enqueue(hub, doc["id"], _save_one)
                queued += 1
        offset += len(page.hits)
        if not page.hits or offset >= page.total:
            return queued


def create_asset(
    hub: Hub,
    data: AssetCreate,
    actor: str,
    *,
    asset_id: str | None = None,
    upload: BinaryIO | None = None,
    filename: str | None = None,
) -> Asset:
    if asset_id is not None and not ID_PATTERN.match(asset_id):
        raise InvalidError(_("id may hold letters, digits, '_' and '-' (1–64 characters)."), field="id", value=asset_id)
    if asset_id is not None and hub.store.get_asset(asset_id) is not None:
        raise ConflictError(
            _("Asset '{asset_id}' already exists.").format(asset_id=asset_id), field="id", value=asset_id
        )
    _validate_vocab(hub, data)  # before touching files: a bad request writes nothing
    media = None
    if upload is not None:
        media = store_upload(hub.store, upload, filename, hub.settings.max_upload_bytes)
        if "kind" not in data.model_fields_set:
            data.kind = kind_for_mime(media.mime)
    doc = _build(hub, data, actor, asset_id, media)
    reads = media is not None and ocr.readable(media.mime)
    if reads:
        doc["ocr"] = {"status": "pending", "pages": 0, "pages_done": 0}
    save_built_assets(hub, [doc])
    audit.record(hub, actor, "create", "asset", doc["id"], title=doc["title"])
    if reads:
        ocr_jobs.enqueue(hub, doc["id"], _save_one)
    return Asset.model_validate(hub.store.get_asset(doc["id"]))


def get_asset(hub: Hub, asset_id: str) -> Asset:
    doc = hub.store.get_asset(asset_id)
    if doc is None:
        raise NotFoundError(
            _("No asset with id '{asset_id}'.").format(asset_id=asset_id), field="asset_id", value=asset_id
        )
    return Asset.model_validate(doc)


TAG_FIELDS = frozenset({"scenes", "channels", "content_type"})


def update_asset(hub: Hub, asset_id: str, patch: AssetUpdate, actor: str, *, feedback_action: str = "edit") -> Asset:
    with asset_lock(asset_id):  # the media reader (ocr_jobs) writes the same document: take turns
        return _update_asset(hub, asset_id, patch, actor, feedback_action)


def _update_asset(hub: Hub, asset_id: str, patch: AssetUpdate, actor: str, feedback_action: str) -> Asset:
    current = get_asset(hub, asset_id)
    if patch.version is not None and patch.version != current.version:
        raise ConflictError(
            _(
                "Asset '{asset_id}' is at version {version}; you edited version {version2}. Reload it and apply your change again."
            ).format(asset_id=asset_id, version=current.version, version2=patch.version),
            field="version",
            value=patch.version,
            extra={"current_version": current.version},
        )
    _validate_vocab(hub, patch)
    explicit = bool({"valid_from", "valid_until"} & patch.model_fields_set)
    _campaign_window(hub, patch)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    if patch.campaign is not None:
        changes.update(valid_from=patch.valid_from, valid_until=patch.valid_until)
    elif explicit and "campaign" not in changes:
        changes["campaign"] = None  # explicit dates replace a campaign link
    if "title" in changes and not changes["title"]:
        raise InvalidError(_("title must not be empty"), field="title")
    for key in ("valid_from", "valid_until"):
        if key in changes:
            changes[key] = _iso(changes[key])
    doc = current.model_dump()
    doc.update(changes)
    if doc.get("valid_from") and doc.get("valid_until") and doc["valid_until"] <= doc["valid_from"]:
        raise InvalidError(_("valid_until must be after valid_from"), field="valid_until")
    doc["version"] = current.version + 1
    doc["updated_by"] = actor
    doc["updated_at"] = to_iso(utcnow())
    audit.record(hub, actor, "update", "asset", asset_id, changed=sorted(changes), version=doc["version"])
    if current.suggestions is not None and TAG_FIELDS & set(changes):
        # an editor confirming or correcting tags is the suggester's training signal, from any surface
        tagging.record_feedback(hub, current, patch, actor, action=feedback_action)
    text_changed = asset_text(doc) != asset_text(current.model_dump())
    if text_changed:
        save_built_assets(hub, [doc])
    else:
        hub.store.put_asset(doc)
        hub.touch("assets")
    return Asset.model_validate(doc)


def archive_asset(hub: Hub, asset_id: str, actor: str) -> Asset:
    return update_asset(hub, asset_id, AssetUpdate(status="archived"), actor)


def accept_suggestions(hub: Hub, asset_id: str, actor: str, *, min_confidence: float = 0.0) -> Asset:
    """Copy the current suggestions into confirmed tags (the editor's one-click 'accept')."""
    with asset_lock(asset_id):  # the suggestions accepted are the ones stored when the tags are written
        asset = get_asset(hub, asset_id)
        s = asset.suggestions
        if s is None:
            raise InvalidError(_("This asset has no suggestions to accept."), field="suggestions")
        patch = tagging.accepted_patch(asset, second_label_min=max(min_confidence, 0.35))
        return update_asset(hub, asset_id, patch, actor, feedback_action="accept")


def accept_above(hub: Hub, asset_id: str, actor: str, threshold: float = tagging.ACCEPT_ALL_MIN) -> Asset:
    """The console's 'accept all': only suggestions at or above ``threshold``."""
    with asset_lock(asset_id):  # the suggestions accepted are the ones stored when the tags are written
        asset = get_asset(hub, asset_id)
        if asset.suggestions is None:
            raise InvalidError(_("This asset has no suggestions to accept."), field="suggestions")
        return update_asset(hub, asset_id, tagging.patch_above(asset, threshold), actor, feedback_action="accept")


def accept_label(hub: Hub, asset_id: str, facet: str, label_id: str, actor: str) -> Asset:
    """One suggestion chip accepted on its own."""
    with asset_lock(asset_id):  # the suggestions accepted are the ones stored when the tags are written
        asset = get_asset(hub, asset_id)
        return update_asset(hub, asset_id, tagging.patch_one(asset, facet, label_id), actor, feedback_action="accept")


def reject_label(hub: Hub, asset_id: str, facet: str, label_id: str, actor: str) -> Asset:
    """One suggestion chip rejected: kept as feedback for the suggester, and no longer offered."""
    with asset_lock(asset_id):
        asset = get_asset(hub, asset_id)
        tagging.patch_one(asset, facet, label_id)  # validates facet and label
        rejected = {facet: [label_id]}
        tagging.reject_suggestions(hub, asset, actor, tagging.RejectIn.model_validate(rejected))
        doc = asset.model_dump()
        doc["suggestions"] = tagging.without_labels(asset, rejected).model_dump()
        hub.store.put_asset(doc)
        hub.touch("assets")
        return Asset.model_validate(doc)


# --- bulk import ------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "line"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_jsonl(lines: Iterable[str | bytes]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line number, parsed object or None, error or None); blank lines are skipped."""
    for no, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            obj = loads_json(line)
        except json.JSONDecodeError as exc:
            yield no, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(obj, dict):
            yield no, None, "each line must be a JSON object"
            continue
        yield no, obj, None


def import_jsonl(
    hub: Hub, lines: Iterable[str | bytes], actor: str, *, batch_size: int = 64, progress: Any = None
) -> ImportReport:
    """Good lines import, bad lines are reported with their numbers; an id already stored is skipped,
    so re-running an import is harmless."""
    report = ImportReport()
    batch: list[dict[str, Any]] = []
    seen: set[str] = set()

    def flush() -> None:
        if batch:
            save_built_assets(hub, batch)
            audit.record(
                hub, actor, "import", "asset", batch[0]["id"], count=len(batch), ids=[d["id"] for d in batch[:20]]
            )
            report.imported += len(batch)
            if progress is not None:
                progress(len(batch))
            batch.clear()

    for no, obj, err in parse_jsonl(lines):
        if err or obj is None:
            report.errors.append((no, err or "empty"))
            continue
        asset_id = obj.pop("id", None)
        try:
            if asset_id is not None and (not isinstance(asset_id, str) or not ID_PATTERN.match(asset_id)):
                raise InvalidError(_("id may hold letters, digits, '_' and '-' (1–64 characters)"), field="id")
            if asset_id is not None and (asset_id in seen or hub.store.get_asset(asset_id) is not None):
                report.skipped += 1
                continue
            data = AssetCreate.model_validate(obj)
            doc = _build(hub, data, actor, asset_id, None)
        except ValidationError as exc:
            report.errors.append((no, _format_validation(exc)))
            continue
        except InvalidError as exc:
            report.errors.append((no, exc.message))
            continue
        seen.add(doc["id"])
        batch.append(doc)
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


def reembed_all(hub: Hub, *, batch_size: int = 64, progress: Any = None) -> int:
    """Re-embed every asset whose vector came from another model (after a model change)."""
    done = 0
    model_id = hub.embedder.model_id
    while True:
        missing = hub.store.assets_missing_vectors(model_id, limit=batch_size)
        if not missing:
            return done
        docs = list(hub.store.get_assets(missing).values())
        save_built_assets(hub, docs)
        done += len(docs)
        if progress is not None:
            progress(len(docs))
