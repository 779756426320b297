"""Segment builder page: conditions from drop-downs, a live count before saving, saved segments with
their live counts (the same ``segments`` service the API and the planner use)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from contenthub import audit
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import groups, segments
from contenthub.audience.user_filters import (
    BUILDER_FIELDS,
    BUILDER_OPS,
    TIERS,
    BuilderRow,
    UserFilter,
    condition_text,
    field_label,
    new_segment_id,
    op_label,
    rows_to_segment,
)
from contenthub.deps import HubDep, check_csrf, require
from contenthub.errors import ProblemError
from contenthub.library import taxonomy
from contenthub.web.forms import field_errors
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
Writer = Annotated[Principal, Depends(require(Perm.audience_write))]
ROWS = 5
FIELDS = ("name", "description", *(f"row-{i}" for i in range(20)))


def _rows_from_filter(f: UserFilter) -> list[BuilderRow]:
    rows = [
        BuilderRow(field=k, op="eq", value=v)
        for k, v in (("stage", f.stage), ("tier", f.tier), ("group", f.group), ("source_channel", f.source))
        if v
    ]
    if f.tag.strip():
        rows.append(BuilderRow(field="tag", op="exists", value=f.tag.strip()))
    return rows


def _page(
    request: Request,
    hub: HubDep,
    *,
    rows: list[BuilderRow],
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    preview: int | None = None,
    saved: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    rows = (rows + [BuilderRow() for _ in range(ROWS)])[: max(ROWS, len(rows))]
    return render(
        request,
        "recommend/segments.html",
        status_code=status_code,
        listed=segments.list_with_counts(hub),
        rows=rows,
        form=form,
        errors=errors or {},
        preview=preview,
        saved=saved,
        fields=BUILDER_FIELDS,
        ops=BUILDER_OPS,
        stages=taxonomy.entries(hub.store, "stages"),
        tiers=TIERS,
        groups=groups.list_groups(hub, limit=1000),
        channels=taxonomy.entries(hub.store, "channels"),
        scenes=taxonomy.entries(hub.store, "scenes"),
        seg_field=field_label,
        seg_op=op_label,
        condition_text=condition_text,
    )


@router.get("/segments", response_class=HTMLResponse)
def segments_page(
    request: Request,
    hub: HubDep,
    who: Reader,
    saved: str = "",
    stage: str = "",
    tier: str = "",
    tag: str = "",
    group: str = "",
    source: str = "",
) -> HTMLResponse:
    chosen = UserFilter(stage=stage[:40], tier=tier[:40], tag=tag[:80], group=group[:128], source=source[:64])
    return _page(
        request,
        hub,
        rows=_rows_from_filter(chosen),
        form={"name": "", "description": "", "match": "all"},
        saved=saved[:40],
    )


@router.post("/segments", response_class=HTMLResponse, response_model=None)
def build_segment(
    request: Request,
    hub: HubDep,
    who: Writer,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    match: Annotated[Literal["all", "any"], Form()] = "all",
    field: Annotated[list[str], Form(max_length=20)] = [],
    op: Annotated[list[str], Form(max_length=20)] = [],
    value: Annotated[list[str], Form(max_length=20)] = [],
    action: Annotated[Literal["preview", "save"], Form()] = "save",
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    rows = [BuilderRow(field=f[:40], op=o[:20], value=v[:400]) for f, o, v in zip(field, op, value, strict=False)]
    form = {"name": name, "description": description, "match": match}
    try:
        data = rows_to_segment(name if action == "save" else (name or "preview"), description, match, rows)
        live = segments.count(hub, segments.Segment(id="_preview", **data.model_dump()), sample=0).count
        if action == "preview":
            return _page(request, hub, rows=rows, form=form, preview=live)
        seg = segments.put_segment(hub, new_segment_id(), data)
    except ProblemError as exc:
        return _page(request, hub, rows=rows, form=form, errors=field_errors(exc, FIELDS), status_code=exc.status)
    audit.record(hub, who.name, "put", "segment", seg.id)
    return RedirectResponse(f"/segments?saved={seg.id}", status_code=303)
