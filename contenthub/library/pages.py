"""Editor pages for the library: list with search and filters, upload, asset detail and edits."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import ValidationError

from contenthub import clock
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.deps import HubDep, check_csrf, require
from contenthub.errors import NotFoundError, ProblemError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import search as search_service
from contenthub.library import seasonal, service, tagging, taxonomy
from contenthub.library.models import AssetCreate, AssetUpdate
from contenthub.recommend.performance import asset_performance
from contenthub.web.forms import FORM, field_errors
from contenthub.web.templating import lang_of, path_segment, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.library_read))]
Writer = Annotated[Principal, Depends(require(Perm.library_write))]


def _names(hub: Hub, lang: str) -> dict[str, dict[str, str]]:
    return {
        facet: {e.id: (e.zh if lang == "zh" else e.en) for e in entries}
        for facet, entries in taxonomy.all_taxonomy(hub.store).items()
    }


@router.get("/library", response_class=HTMLResponse)
def library_list(
    request: Request,
    hub: HubDep,
    who: Reader,
    q: str = "",
    scene: str = "",
    channel: str = "",
    kind: str = "",
    content_type: str = "",
    status: str = "",
    offset: int = 0,
) -> HTMLResponse:
    selected = {"scene": scene, "channel": channel, "kind": kind, "content_type": content_type, "status": status}
    req = search_service.SearchRequest(
        q=q[:500],
        scenes=(scene,) if scene else (),
        channels=(channel,) if channel else (),
        kinds=(kind,) if kind else (),
        content_types=(content_type,) if content_type else (),
        statuses=(status,) if status else (),
        limit=20,
        offset=max(0, min(offset, 100000)),
    )
    page = search_service.search(hub, req)
    base = {k: v for k, v in {"q": q, **selected}.items() if v}
    return render(
        request,
        "library/list.html",
        page=page,
        q=q,
        selected=selected,
        taxonomy=taxonomy.all_taxonomy(hub.store),
        names=_names(hub, lang_of(request)),
        prev_url="/library?" + urlencode({**base, "offset": max(0, page.offset - page.limit)}),
        next_url="/library?" + urlencode({**base, "offset": page.offset + page.limit}),
    )


@router.get("/library/upload", response_class=HTMLResponse)
def upload_form(request: Request, hub: HubDep, who: Writer) -> HTMLResponse:
    return render(
        request, "library/upload.html", taxonomy=taxonomy.all_taxonomy(hub.store), form={}, errors={}, error=None
    )


UPLOAD_FIELDS = ("title", "body", "kind", "tags", "url", "file")


@router.post("/library/upload", response_class=HTMLResponse, response_model=None)
def upload(
    request: Request,
    hub: HubDep,
    who: Writer,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse | RedirectResponse:
    """Form fields carry no length limits of their own: AssetCreate checks them, so a long title comes back
    as a message beside the title with everything entered kept (a Form limit answered with a JSON 422).
    The request body limit (limits.BodyLimitMiddleware) still bounds what is read."""
    check_csrf(request, csrf_token)
    form = {"title": title, "body": body, "tags": tags, "url": url, "kind": kind}
    fields: dict[str, Any] = {
        "title": title,
        "body": body,
        "tags": [x.strip() for x in tags.replace("，", ",").split(",") if x.strip()],
        "url": url or None,
    }
    if kind:
        fields["kind"] = kind
    sent_file = file if file is not None and file.filename else None
    try:
        data = AssetCreate.model_validate(fields)
        asset = service.create_asset(
            hub,
            data,
            who.name,
            upload=sent_file.file if sent_file else None,
            filename=sent_file.filename if sent_file else None,
        )
    except (ProblemError, ValidationError) as exc:
        status = exc.status if isinstance(exc, ProblemError) else 422
        errors = field_errors(exc, UPLOAD_FIELDS)
        if isinstance(exc, ProblemError) and FORM in errors and exc.status in (413, 415):
            errors = {"file": errors[FORM]}  # size and type refusals are about the file
        return render(
            request,
            "library/upload.html",
            status_code=status,
            taxonomy=taxonomy.all_taxonomy(hub.store),
            form=form,
            errors=errors,
            error=errors.get(FORM),
        )
    return RedirectResponse(f"/library/assets/{asset.id}", status_code=303)


def seasonal_messages(hub: Hub, doc: dict[str, Any], lang: str) -> list[str]:
    """Seasonal wording without a campaign window, as sentences for the editor (asset page, review queue)."""
    today = clock.current(hub).astimezone(ZoneInfo(hub.settings.timezone)).date()
    return [flag.message(lang) for flag in seasonal.flags(doc, today)]


def _detail(
    request: Request,
    hub: Hub,
    who: Principal,
    asset_id: str,
    flash: str | None = None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    entered: dict[str, Any] | None = None,
) -> HTMLResponse:
    asset = service.get_asset(hub, asset_id)
    lang = lang_of(request)
    performance = asset_performance(hub, asset_id)
    return render(
        request,
        "library/detail.html",
        status_code=status_code,
        asset=asset,
        flash=flash,
        seasonal_flags=seasonal_messages(hub, asset.model_dump(), lang),
        taxonomy=taxonomy.all_taxonomy(hub.store),
        names=_names(hub, lang),
        similar=search_service.similar(hub, asset_id, n=8),
        can_write=allows(who.role, Perm.library_write),
        performance=performance,
        errors=errors or {},
        entered=entered,
        accept_min=tagging.ACCEPT_ALL_MIN,
    )


@router.get("/library/assets/{asset_id}", response_class=HTMLResponse)
def asset_detail(request: Request, hub: HubDep, who: Reader, asset_id: str) -> HTMLResponse:
    return _detail(request, hub, who, asset_id)


@router.get("/library/assets/{asset_id}/media", response_class=FileResponse)
def asset_media(hub: HubDep, who: Reader, asset_id: str) -> FileResponse:
    asset = service.get_asset(hub, asset_id)
    path = hub.store.media_path(asset.media.sha256) if asset.media else None
    if asset.media is None or path is None:
        raise NotFoundError(_("This asset has no media file."))
    return FileResponse(path, media_type=asset.media.mime, headers={"X-Content-Type-Options": "nosniff"})


@router.post("/library/assets/{asset_id}/accept", response_class=HTMLResponse, response_model=None)
def accept(
    request: Request, hub: HubDep, who: Writer, asset_id: str, csrf_token: Annotated[str, Form()] = ""
) -> RedirectResponse | HTMLResponse:
    check_csrf(request, csrf_token)
    try:
        service.accept_above(hub, asset_id, who.name)
    except ProblemError as exc:
        if exc.status in (401, 403, 404):
            raise
        return _detail(request, hub, who, asset_id, flash=exc.message, status_code=exc.status)
    return RedirectResponse(f"/library/assets/{asset_id}", status_code=303)


def _one_suggestion(
    request: Request,
    hub: Hub,
    who: Principal,
    asset_id: str,
    action: str,
    csrf_token: str,
    facet: str,
    label: str,
    back: str,
) -> HTMLResponse | RedirectResponse:
    """One chip accepted or rejected on its own; back to the page the editor came from."""
    check_csrf(request, csrf_token)
    try:
        if action == "accept":
            service.accept_label(hub, asset_id, facet, label, who.name)
        else:
            service.reject_label(hub, asset_id, facet, label, who.name)
    except ProblemError as exc:
        if exc.status in (401, 403, 404):
            raise
        return _detail(request, hub, who, asset_id, flash=exc.message, status_code=exc.status)
    target = "/library/review" if back == "review" else f"/library/assets/{path_segment(asset_id)}"
    return RedirectResponse(target, status_code=303)


ChipFacet = Annotated[str, Form(max_length=40)]
ChipLabel = Annotated[str, Form(max_length=200)]
ChipBack = Annotated[Literal["detail", "review"], Form()]


@router.post("/library/assets/{asset_id}/suggestions/accept", response_class=HTMLResponse, response_model=None)
def accept_one(
    request: Request,
    hub: HubDep,
    who: Writer,
    asset_id: str,
    csrf_token: Annotated[str, Form()] = "",
    facet: ChipFacet = "",
    label: ChipLabel = "",
    back: ChipBack = "detail",
) -> HTMLResponse | RedirectResponse:
    return _one_suggestion(request, hub, who, asset_id, "accept", csrf_token, facet, label, back)


@router.post("/library/assets/{asset_id}/suggestions/reject", response_class=HTMLResponse, response_model=None)
def reject_one(
    request: Request,
    hub: HubDep,
    who: Writer,
    asset_id: str,
    csrf_token: Annotated[str, Form()] = "",
    facet: ChipFacet = "",
    label: ChipLabel = "",
    back: ChipBack = "detail",
) -> HTMLResponse | RedirectResponse:
    return _one_suggestion(request, hub, who, asset_id, "reject", csrf_token, facet, label, back)


EDIT_FIELDS = ("title", "scenes", "channels", "content_type", "tags", "status")


@router.post("/library/assets/{asset_id}/edit", response_class=HTMLResponse, response_model=None)
def edit(
    request: Request,
    hub: HubDep,
    who: Writer,
    asset_id: str,
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    title: Annotated[str, Form()] = "",
    scenes: Annotated[list[str], Form()] = [],
    channels: Annotated[list[str], Form()] = [],
    content_type: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "draft",
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    try:
        patch = AssetUpdate.model_validate(
            {
                "version": version,
                "title": title,
                "scenes": scenes,
                "channels": channels,
                "content_type": content_type or None,
                "status": status,
                "tags": [x.strip() for x in tags.replace("，", ",").split(",") if x.strip()],
            }
        )
        service.update_asset(hub, asset_id, patch, who.name)
    except (ProblemError, ValidationError) as exc:
        status_code = exc.status if isinstance(exc, ProblemError) else 422
        errors = field_errors(exc, EDIT_FIELDS)
        entered = {
            "title": title,
            "scenes": scenes,
            "channels": channels,
            "content_type": content_type,
            "tags": tags,
            "status": status,
        }
        return _detail(
            request, hub, who, asset_id, flash=errors.get(FORM), status_code=status_code, errors=errors, entered=entered
        )
    return RedirectResponse(f"/library/assets/{asset_id}", status_code=303)
