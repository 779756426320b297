"""HTTP routes of the library: assets, uploads, search, similar, media, taxonomy, bulk import.

Routes only translate HTTP to service calls; every rule lives in the service modules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from contenthub import audit
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.errors import NotFoundError
from contenthub.i18n import _
from contenthub.library import search as search_service
from contenthub.library import service, taxonomy
from contenthub.library.models import Asset, AssetCreate, AssetHit, AssetPageOut, AssetUpdate
from contenthub.library.taxonomy import TaxonomyEntry
from contenthub.timeutil import Instant

router = APIRouter(prefix="/v1", tags=["library"])

Reader = Annotated[Principal, Depends(require(Perm.library_read))]
Writer = Annotated[Principal, Depends(require(Perm.library_write))]
TaxonomyWriter = Annotated[Principal, Depends(require(Perm.taxonomy_write))]


class AssetCreateIn(AssetCreate):
    id: str | None = Field(
        default=None, description="Optional client id (letters, digits, _ and -), for idempotent imports."
    )


def _split(values: list[str] | None) -> list[str] | None:
    """Form fields may repeat (scenes=a&scenes=b) or hold a comma list (scenes=a,b); accept both."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in v.replace("，", ",").split(",") if p.strip())
    return out


@router.post("/assets", status_code=201, response_model=Asset, summary="Create an asset from JSON")
def create_asset(body: AssetCreateIn, hub: HubDep, who: Writer) -> Asset:
    data = AssetCreate.model_validate(body.model_dump(exclude={"id"}, exclude_unset=True))
    return service.create_asset(hub, data, who.name, asset_id=body.id)


@router.post("/assets/upload", status_code=201, response_model=Asset, summary="Upload a media file with its fields")
def upload_asset(
    hub: HubDep,
    who: Writer,
    file: Annotated[
        UploadFile, File(description="Image, video, audio, PDF or Office file; type is read from the bytes.")
    ],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    body: Annotated[str, Form(max_length=20000)] = "",
    kind: Annotated[str | None, Form()] = None,
    content_type: Annotated[str | None, Form()] = None,
    scenes: Annotated[list[str] | None, Form()] = None,
    channels: Annotated[list[str] | None, Form()] = None,
    tags: Annotated[list[str] | None, Form()] = None,
    stages: Annotated[list[str] | None, Form()] = None,
    status: Annotated[Literal["draft", "approved", "archived"], Form()] = "draft",
    url: Annotated[str | None, Form()] = None,
    valid_from: Annotated[Instant | None, Form()] = None,
    valid_until: Annotated[Instant | None, Form()] = None,
) -> Asset:
    fields: dict[str, Any] = {
        "title": title,
        "body": body,
        "content_type": content_type or None,
        "scenes": _split(scenes),
        "channels": _split(channels),
        "tags": _split(tags),
        "stages": _split(stages),
        "status": status,
        "url": url or None,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    if kind:
        fields["kind"] = kind
    data = AssetCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    return service.create_asset(hub, data, who.name, upload=file.file, filename=file.filename)


@router.get("/assets", response_model=AssetPageOut, summary="List and search assets")
def list_assets(
    hub: HubDep,
    who: Reader,
    q: Annotated[str, Query(max_length=500, description="Words to find (Chinese or English)")] = "",
    mode: Literal["hybrid", "text", "semantic"] = "hybrid",
    scene: Annotated[list[str], Query()] = [],
    channel: Annotated[list[str], Query()] = [],
    kind: Annotated[list[str], Query()] = [],
    content_type: Annotated[list[str], Query()] = [],
    status: Annotated[list[str], Query()] = [],
    tag: Annotated[list[str], Query()] = [],
    stage: Annotated[list[str], Query()] = [],
    valid_at: Instant | None = None,
    sort: Literal["updated_desc", "created_desc", "title_asc"] = "updated_desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100000)] = 0,
) -> AssetPageOut:
    req = search_service.SearchRequest(
        q=q,
        mode=mode,
        scenes=tuple(scene),
        channels=tuple(channel),
        kinds=tuple(kind),
        content_types=tuple(content_type),
        statuses=tuple(status),
        tags=tuple(tag),
        stages=tuple(stage),
        valid_at=valid_at,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return search_service.search(hub, req)


@router.get("/assets/{asset_id}", response_model=Asset)
def get_asset(asset_id: str, hub: HubDep, who: Reader) -> Asset:
    return service.get_asset(hub, asset_id)


@router.patch(
    "/assets/{asset_id}", response_model=Asset, summary="Change fields (send `version` to avoid lost updates)"
)
def update_asset(asset_id: str, patch: AssetUpdate, hub: HubDep, who: Writer) -> Asset:
    return service.update_asset(hub, asset_id, patch, who.name)


@router.post("/assets/{asset_id}/archive", response_model=Asset)
def archive_asset(asset_id: str, hub: HubDep, who: Writer) -> Asset:
    return service.archive_asset(hub, asset_id, who.name)


@router.post(
    "/assets/{asset_id}/accept-suggestions",
    response_model=Asset,
    summary="Confirm the suggested scenes, channels and content type",
)
def accept_suggestions(asset_id: str, hub: HubDep, who: Writer) -> Asset:
    return service.accept_suggestions(hub, asset_id, who.name)


@router.get("/assets/{asset_id}/similar", response_model=list[AssetHit])
def similar_assets(
    asset_id: str, hub: HubDep, who: Reader, n: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[AssetHit]:
    return search_service.similar(hub, asset_id, n=n)


@router.get("/assets/{asset_id}/media", summary="The asset's media file", response_class=FileResponse)
def asset_media(asset_id: str, hub: HubDep, who: Reader) -> FileResponse:
    asset = service.get_asset(hub, asset_id)
    path = hub.store.media_path(asset.media.sha256) if asset.media else None
    if asset.media is None or path is None:
        raise NotFoundError(
            _("Asset '{asset_id}' has no media file.").format(asset_id=asset_id), field="asset_id", value=asset_id
        )
    return FileResponse(
        path,
        media_type=asset.media.mime,
        filename=asset.media.filename or None,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"},
    )


class ImportOut(BaseModel):
    imported: int
    skipped: int
    errors: list[dict[str, Any]]


@router.post(
    "/assets/import",
    response_model=ImportOut,
    summary="Bulk import JSON lines (one asset per line)",
    responses={422: {"description": "Some lines were bad; the good ones were imported"}},
)
async def import_assets(request: Request, hub: HubDep, who: Writer) -> Any:
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    raw = await request.body()
    report = await run_in_threadpool(service.import_jsonl, hub, raw.splitlines(), who.name)
    body = ImportOut(
        imported=report.imported,
        skipped=report.skipped,
        errors=[{"line": n, "message": m} for n, m in report.errors],
    )
    out = body.model_dump()
    if not report.ok:  # every 4xx carries error.message; `errors` lists each bad line
        line, message = report.errors[0]
        out["error"] = {
            "code": "invalid",
            "message": f"{len(report.errors)} lines were rejected ({report.imported} imported); line {line}: {message}",
            "field": "lines",
        }
    return JSONResponse(out, status_code=200 if report.ok else 422)


# --- taxonomy -----------------------------------------------------------------------------


@router.get("/taxonomy", response_model=dict[str, list[TaxonomyEntry]], tags=["taxonomy"])
def get_taxonomy(hub: HubDep, who: Reader) -> dict[str, list[TaxonomyEntry]]:
    return taxonomy.all_taxonomy(hub.store)


@router.get("/taxonomy/{facet}", response_model=list[TaxonomyEntry], tags=["taxonomy"])
def get_facet(facet: str, hub: HubDep, who: Reader) -> list[TaxonomyEntry]:
    return taxonomy.entries(hub.store, facet)


@router.put("/taxonomy/{facet}/{entry_id}", response_model=TaxonomyEntry, tags=["taxonomy"])
def put_entry(facet: str, entry_id: str, entry: TaxonomyEntry, hub: HubDep, who: TaxonomyWriter) -> TaxonomyEntry:
    if entry.id != entry_id:
        from contenthub.errors import InvalidError

        raise InvalidError(
            _("The body's id '{id}' differs from the URL's '{entry_id}'.").format(id=entry.id, entry_id=entry_id),
            field="id",
        )
    audit.record(hub, who.name, "put", "taxonomy", f"{facet}/{entry_id}")
    saved = taxonomy.upsert_entry(hub.store, facet, entry)
    hub.touch(taxonomy.COLLECTION)  # memoised ids and labels (contenthub.doccache) re-read at once here
    return saved


@router.delete("/taxonomy/{facet}/{entry_id}", status_code=204, tags=["taxonomy"])
def delete_entry(facet: str, entry_id: str, hub: HubDep, who: TaxonomyWriter) -> None:
    taxonomy.delete_entry(hub.store, facet, entry_id)
    hub.touch(taxonomy.COLLECTION)
    audit.record(hub, who.name, "delete", "taxonomy", f"{facet}/{entry_id}")
