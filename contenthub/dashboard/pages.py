"""Dashboard pages: retention, channel health, send fatigue and LTV, each chart with its table and CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import plotly  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from contenthub import i18n
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.dashboard import charts, rollup, service, tables
from contenthub.dashboard.charts import Chart
from contenthub.dashboard.models import CohortBy
from contenthub.dashboard.wording import WORDS
from contenthub.deps import HubDep, require
from contenthub.hub import Hub
from contenthub.labels import label
from contenthub.library import taxonomy
from contenthub.publish import service as publish_service
from contenthub.web.templating import TEMPLATES, lang_of, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.reports_read))]
Weeks = Annotated[int, Query(ge=1, le=52)]
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
VENDOR_PATH = "/static/vendor"


class VendorFiles(StaticFiles):
    """plotly.min.js — and nothing else — straight from the installed ``plotly`` package, mounted by the app at
    ``VENDOR_PATH``: charts work offline with no CDN and no copy of the file in the repository."""

    def __init__(self) -> None:
        super().__init__(directory=PLOTLY_JS.parent)

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        return path if path == PLOTLY_JS.name else "only-plotly.min.js-is-served-here"


TABS = ("retention", "channels", "fatigue", "ltv")


def _csv(path: str, **params: Any) -> str:
    return f"/v1/dashboard/{path}?{urlencode({**params, 'format': 'csv'})}"


def _chart(
    cid: str,
    title: str,
    figure: dict[str, Any] | None,
    missing: str | None,
    table: tables.Table,
    csv_url: str,
    fallback: str,
) -> Chart:
    return Chart(
        id=cid,
        title=title,
        figure=figure,
        missing=None if figure else (missing or fallback),
        table=table,
        csv_url=csv_url,
    )


def _page(request: Request, tab: str, charts_: list[Chart], **context: Any) -> HTMLResponse:
    return render(request, "dashboard/page.html", tab=tab, tabs=TABS, charts=charts_, **context)


async def _built(request: Request, tab: str, build: Any, *args: Any) -> Any:
    """The page's charts, or a page saying the dashboard is still being prepared (503, not a blank page)."""
    try:
        return await run_in_threadpool(build, *args)
    except rollup.Preparing as exc:
        return render(
            request, "dashboard/page.html", status_code=503, tab=tab, tabs=TABS, charts=[], preparing=exc.message
        )


def _retention_charts(hub: Hub, lang: str, by: CohortBy, weeks: int) -> list[Chart]:
    tr = _tr(lang)
    v = service.retention_view(hub, by, weeks)
    flows = service.lifecycle_view(hub, weeks)
    none = tr("dash_no_data")
    return [
        _chart(
            "retention-triangle",
            tr("dash_triangle"),
            charts.retention_triangle(v, tr),
            v.missing,
            tables.retention(v),
            _csv("retention", by=by, weeks=weeks),
            none,
        ),
        _chart(
            "retention-curves",
            tr("dash_curves"),
            charts.retention_curves(v, tr),
            v.missing,
            tables.retention(v),
            _csv("retention", by=by, weeks=weeks),
            none,
        ),
        _chart(
            "lifecycle-stack",
            tr("dash_lifecycle"),
            charts.lifecycle_bars(flows, tr),
            flows.missing,
            tables.lifecycle(flows),
            _csv("lifecycle", weeks=weeks),
            none,
        ),
        _chart(
            "lifecycle-sankey",
            tr("dash_flows_last"),
            charts.lifecycle_sankey(flows, tr),
            flows.missing,
            tables.lifecycle(flows),
            _csv("lifecycle", weeks=weeks),
            tr("dash_no_moves"),
        ),
    ]


@router.get("/dashboard", response_class=HTMLResponse)
@router.get("/dashboard/retention", response_class=HTMLResponse)
async def retention_page(
    request: Request, hub: HubDep, who: Reader, by: CohortBy = "week", weeks: Weeks = 12
) -> HTMLResponse:
    built = await _built(request, "retention", _retention_charts, hub, lang_of(request), by, weeks)
    if not isinstance(built, list):
        return built
    return _page(request, "retention", built, by=by, weeks=weeks, by_options=("week", "source", "journey", "tier"))


def _channel_charts(hub: Hub, lang: str, weeks: int) -> tuple[list[Chart], Any]:
    tr = _tr(lang)
    v = service.channels_view(hub, weeks)
    leaders = service.assets_view(hub)
    none = tr("dash_no_sends")
    url = _csv("channels", weeks=weeks)
    out = [
        _chart(
            f"channel-{m}",
            tr(f"dash_{m}"),
            charts.channel_metric(v, m, tr, kind=kind),
            None,
            tables.channels(v),
            url,
            none,
        )
        for m, kind in (
            ("deliveries", "bars"),
            ("open_rate", "lines"),
            ("click_rate", "lines"),
            ("conversion_rate", "lines"),
            ("mutes", "bars"),
            ("revenue", "bars"),
        )
    ]
    for facet in ("scene", "content_type"):
        out.append(
            _chart(
                f"assets-{facet}",
                tr(f"dash_assets_{facet}"),
                charts.asset_bars(leaders, tr, facet),
                leaders.missing,
                tables.assets(leaders),
                _csv("assets"),
                tr("dash_no_data"),
            )
        )
    return out, v


@router.get("/dashboard/channels", response_class=HTMLResponse)
async def channels_page(request: Request, hub: HubDep, who: Reader, weeks: Weeks = 12) -> HTMLResponse:
    found = await _built(request, "channels", _channel_charts, hub, lang_of(request), weeks)
    if not isinstance(found, tuple):
        return found
    built, v = found
    return _page(request, "channels", built, weeks=weeks, health=v, caps_table=tables.caps(v))


def _fatigue_charts(hub: Hub, lang: str, channel: str) -> tuple[list[Chart], Any]:
    tr = _tr(lang)
    v = service.fatigue_view(hub, channel)
    return [
        _chart(
            "fatigue-curve",
            f"{tr('dash_fatigue')} · {label('channel', channel)}",
            charts.fatigue_curve(v, tr),
            v.missing,
            tables.fatigue(v),
            _csv("fatigue", channel=channel),
            tr("dash_no_sends"),
        )
    ], v


@router.get("/dashboard/fatigue", response_class=HTMLResponse)
async def fatigue_page(
    request: Request,
    hub: HubDep,
    who: Reader,
    channel: Annotated[str, Query(min_length=1, max_length=64)] = "wecom_1v1",
) -> HTMLResponse:
    found = await _built(request, "fatigue", _fatigue_charts, hub, lang_of(request), channel)
    if not isinstance(found, tuple):
        return found
    built, v = found
    return _page(
        request, "fatigue", built, channel=channel, fatigue=v, channel_options=taxonomy.ids(hub.store, "channels")
    )


def _ltv_charts(hub: Hub, lang: str, by: str, weeks: int) -> tuple[list[Chart], Any]:
    tr = _tr(lang)
    v = service.ltv_observed_view(hub, by, weeks)
    m = service.ltv_model_view(hub)
    return [
        _chart(
            "ltv-observed",
            tr("dash_ltv_observed"),
            charts.ltv_curves(v, tr),
            v.missing,
            tables.ltv_observed(v),
            _csv("ltv", by=by, weeks=weeks),
            tr("dash_no_revenue"),
        ),
        _chart(
            "ltv-holdout",
            tr("dash_ltv_holdout"),
            charts.ltv_holdout(m, tr),
            m.missing,
            tables.ltv_holdout(m),
            _csv("ltv/model"),
            tr("dash_no_revenue"),
        ),
    ], m


@router.get("/dashboard/ltv", response_class=HTMLResponse)
async def ltv_page(
    request: Request, hub: HubDep, who: Reader, by: Literal["week", "source"] = "week", weeks: Weeks = 12
) -> HTMLResponse:
    found = await _built(request, "ltv", _ltv_charts, hub, lang_of(request), by, weeks)
    if not isinstance(found, tuple):
        return found
    built, m = found
    return _page(request, "ltv", built, by=by, weeks=weeks, model=m, by_options=("week", "source"))


def _tr(lang: str) -> charts.Tr:
    catalog = i18n.translations(lang)
    return lambda key: catalog.gettext(WORDS[key]) if key in WORDS else key


def fatigue_warning(request: Request, channel: str) -> dict[str, Any] | None:
    """For the publish calendar: a link to the channel's fatigue curve when one of its cadence rules allows
    at least as many sends per week as the number at which mutes were seen to rise (None otherwise, and
    while no rollup has been built yet: the calendar never waits for one)."""
    hub: Hub = request.app.state.hub
    r = rollup.peek(hub)
    if r is None:
        return None
    rise = service.fatigue_of(r, channel).mutes_rise_at
    if rise is None:
        return None
    weekly = [
        n
        for rule in publish_service.effective_rules(hub)
        if rule.channel == channel
        if (n := rule.max_per_week or (rule.max_per_day or 0) * len(rule.allowed_weekdays) or rule.target_per_week)
        is not None
    ]
    if not weekly or max(weekly) < rise:
        return None
    return {"url": f"/dashboard/fatigue?{urlencode({'channel': channel})}", "rise": rise, "allowed": max(weekly)}


TEMPLATES.env.globals["dashboard_fatigue_warning"] = fatigue_warning
