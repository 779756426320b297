"""Editor page for tag review: untagged assets with the least certain suggestions first, and how
accurate the suggester has been on recent editor decisions."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.deps import HubDep, check_csrf, require
from contenthub.i18n import N_, gettext
from contenthub.library import service, tagging, taxonomy
from contenthub.library.pages import seasonal_messages
from contenthub.web.templating import lang_of, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.library_read))]
Writer = Annotated[Principal, Depends(require(Perm.library_write))]
Editor = Annotated[Principal, Depends(require(Perm.taxonomy_write))]
PAGE = 30
MIN_SAMPLE = 30
"""Below this many decisions an accuracy share is shown with a warning: 1 of 1 is not "100% accurate"."""

WORDS: dict[str, str] = {  # the page's wording by short key (the template reads s.key); msgids are English
    "heading": N_("Tag review"),
    "intro": N_("Untagged assets, least certain scene suggestion first: review these before the rest."),
    "accuracy": N_("Accuracy on recent confirmations"),
    "decisions": N_("editor decisions"),
    "top1": N_("top suggestion kept"),
    "top3": N_("right label in top 3"),
    "no_decisions": N_("No editor feedback yet."),
    "model": N_("Model"),
    "no_model": N_("Not trained yet: descriptions and keyword cues only."),
    "validation": N_("Validation accuracy at training (scenes)"),
    "train": N_("Retrain now"),
    "trained": N_("Retrained"),
    "not_trained": N_("Not trained"),
    "top_confidence": N_("Top confidence"),
    "suggested": N_("Suggested"),
    "actions": N_("Actions"),
    "accept": N_("Accept"),
    "reject": N_("Reject all"),
    "open": N_("Open to edit"),
    "empty": N_("Nothing to review."),
    "rejected": N_("Reject recorded"),
}


def _strings(lang: str) -> dict[str, str]:
    """The page's wording in the request's language (``lang`` is the one the middleware chose)."""
    return {k: gettext(v) for k, v in WORDS.items()}


@router.get("/library/review", response_class=HTMLResponse)
def review_page(request: Request, hub: HubDep, who: Reader, offset: int = 0, flash: str = "") -> HTMLResponse:
    lang = lang_of(request)
    offset = max(0, min(offset, 100000))
    items, total = tagging.review_queue(hub, limit=PAGE, offset=offset)
    names = {
        facet: {e.id: (e.zh if lang == "zh" else e.en) for e in taxonomy.entries(hub.store, facet)}
        for facet in ("scenes", "channels", "content_types")
    }
    s = _strings(lang)
    return render(
        request,
        "library/review.html",
        items=items,
        total=total,
        offset=offset,
        page=PAGE,
        acc=tagging.accuracy(hub),
        names=names,
        s=s,
        flash=s.get(flash, ""),
        seasonal={it.asset.id: seasonal_messages(hub, it.asset.model_dump(), lang) for it in items},
        can_write=allows(who.role, Perm.library_write),
        can_train=allows(who.role, Perm.taxonomy_write),
        accept_min=tagging.ACCEPT_ALL_MIN,
        min_sample=MIN_SAMPLE,
    )


@router.post("/library/review/{asset_id}/accept", response_model=None)
def accept(
    request: Request, hub: HubDep, who: Writer, asset_id: str, csrf_token: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    service.accept_above(hub, asset_id, who.name)
    return RedirectResponse("/library/review", status_code=303)


@router.post("/library/review/{asset_id}/reject", response_model=None)
def reject(
    request: Request, hub: HubDep, who: Writer, asset_id: str, csrf_token: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    tagging.reject_suggestions(hub, service.get_asset(hub, asset_id), who.name)
    return RedirectResponse("/library/review?flash=rejected", status_code=303)


@router.post("/library/review/train", response_model=None)
def train(request: Request, hub: HubDep, who: Editor, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf_token)
    report = tagging.train_suggester(hub)
    return RedirectResponse(
        "/library/review?flash=" + quote("trained" if report.trained else "not_trained"), status_code=303
    )
