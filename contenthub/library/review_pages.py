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

STRINGS: dict[str, dict[str, str]] = {
    "heading": {"zh": "待复核标签", "en": "Tag review"},
    "intro": {"zh": "未打标签的素材，按推荐场景的置信度从低到高排列：先看最没把握的。",
              "en": "Untagged assets, least certain scene suggestion first: review these before the rest."},
    "accuracy": {"zh": "近期推荐准确率", "en": "Accuracy on recent confirmations"},
    "decisions": {"zh": "次编辑决定", "en": "editor decisions"},
    "top1": {"zh": "首选被采纳", "en": "top suggestion kept"},
    "top3": {"zh": "前三含正确", "en": "right label in top 3"},
    "no_decisions": {"zh": "还没有编辑反馈。", "en": "No editor feedback yet."},
    "model": {"zh": "模型", "en": "Model"},
    "no_model": {"zh": "尚未训练：目前只用场景描述和关键词。", "en": "Not trained yet: descriptions and keyword cues only."},
    "validation": {"zh": "训练时验证准确率（场景）", "en": "Validation accuracy at training (scenes)"},
    "train": {"zh": "立即重新训练", "en": "Retrain now"},
    "trained": {"zh": "已重新训练", "en": "Retrained"},
    "not_trained": {"zh": "未训练", "en": "Not trained"},
    "top_confidence": {"zh": "首选置信度", "en": "Top confidence"},
    "suggested": {"zh": "推荐", "en": "Suggested"},
    "actions": {"zh": "操作", "en": "Actions"},
    "accept": {"zh": "采纳", "en": "Accept"},
    "reject": {"zh": "全部驳回", "en": "Reject all"},
    "open": {"zh": "打开编辑", "en": "Open to edit"},
    "empty": {"zh": "没有待复核的素材。", "en": "Nothing to review."},
    "rejected": {"zh": "已记录驳回", "en": "Reject recorded"},
}


def _strings(lang: str) -> dict[str, str]:
    return {k: v.get(lang, v["en"]) for k, v in STRINGS.items()}


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
        request, "library/review.html", items=items, total=total, offset=offset, page=PAGE,
        acc=tagging.accuracy(hub), names=names, s=s, flash=s.get(flash, ""),
        seasonal={it.asset.id: seasonal_messages(hub, it.asset.model_dump(), lang) for it in items},
        can_write=allows(who.role, Perm.library_write), can_train=allows(who.role, Perm.taxonomy_write),
        accept_min=tagging.ACCEPT_ALL_MIN, min_sample=MIN_SAMPLE,
    )


@router.post("/library/review/{asset_id}/accept", response_model=None)
def accept(request: Request, hub: HubDep, who: Writer, asset_id: str,
           csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf_token)
    service.accept_above(hub, asset_id, who.name)
    return RedirectResponse("/library/review", status_code=303)


@router.post("/library/review/{asset_id}/reject", response_model=None)
def reject(request: Request, hub: HubDep, who: Writer, asset_id: str,
           csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf_token)
    tagging.reject_suggestions(hub, service.get_asset(hub, asset_id), who.name)
    return RedirectResponse("/library/review?flash=rejected", status_code=303)


@router.post("/library/review/train", response_model=None)
def train(request: Request, hub: HubDep, who: Editor, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf_token)
    report = tagging.train_suggester(hub)
    return RedirectResponse("/library/review?flash=" + quote("trained" if report.trained else "not_trained"),
                            status_code=303)
