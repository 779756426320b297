"""Analyst pages: the experiment list and one experiment's report (tables, charts, health, summary)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from pydantic import ValidationError

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.errors import InvalidError
from contenthub.experiments import charts, planning_service, service
from contenthub.experiments.metrics import METRICS
from contenthub.experiments.models import Correction
from contenthub.experiments.planning_service import PlanIn, PlanOut
from contenthub.experiments.report import Report, build_report
from contenthub.experiments.stats import formatting as fmt
from contenthub.web.templating import lang_of, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.reports_read))]


def fmt_value(metric_id: str, x: float | None) -> str:
    return fmt.value(METRICS[metric_id].kind, x)


def fmt_diff(metric_id: str, x: float | None, lang: str = "en") -> str:
    return fmt.diff(METRICS[metric_id].kind, x, lang)


fmt_pct = fmt.pct
fmt_p = fmt.p_value


def _charts(report: Report, lang: str) -> dict[str, Markup | None]:
    diff = charts.difference_chart(report, lang)
    cumulative = charts.cumulative_chart(report, lang=lang)
    # Trusted: matplotlib's SVG writer escapes every text it draws (variant and metric names).
    return {"difference": Markup(diff) if diff else None, "cumulative": Markup(cumulative) if cumulative else None}


def _calculator(params: dict[str, str]) -> tuple[PlanOut | None, str | None]:
    """The planning form's result, or the reason the inputs cannot be planned (shown on the page)."""
    if not params.get("baseline"):
        return None, None
    try:
        body = PlanIn.model_validate({k: v for k, v in params.items() if v not in ("", None)})
        return planning_service.plan(body), None
    except ValidationError as err:
        first = err.errors()[0]
        return None, f"{'.'.join(str(x) for x in first.get('loc', ()))}: {first.get('msg', '')}"
    except InvalidError as err:
        return None, err.message


@router.get("/experiments", response_class=HTMLResponse)
def experiments_list(request: Request, hub: HubDep, who: Reader) -> HTMLResponse:
    exps = service.list_experiments(hub)
    counts = {e.key: service.exposure_count(hub, e.key) for e in exps}
    fields = ("baseline", "mde", "power", "alpha", "arms", "units_per_day", "sd", "sequential")
    params = {k: request.query_params[k] for k in fields if k in request.query_params}
    result, error = _calculator(params)
    return render(
        request,
        "experiments/list.html",
        experiments=exps,
        counts=counts,
        metrics=METRICS,
        plan_in=params,
        plan=result,
        plan_error=error,
    )


@router.get("/experiments/{key}", response_class=HTMLResponse)
async def experiment_report(
    request: Request,
    key: str,
    hub: HubDep,
    who: Reader,
    sequential: bool | None = None,
    correction: Correction | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    report = await run_in_threadpool(build_report, hub, key, sequential=sequential, correction=correction)
    figures = await run_in_threadpool(_charts, report, lang) if report.has_exposures else {}
    query = "&".join(f"{k}={v}" for k, v in (("sequential", sequential), ("correction", correction)) if v is not None)
    return render(
        request,
        "experiments/report.html",
        report=report,
        exp=report.experiment,
        charts=figures,
        metrics=METRICS,
        fmt_value=fmt_value,
        fmt_diff=fmt_diff,
        fmt_pct=fmt_pct,
        fmt_p=fmt_p,
        export_query=("?" + query) if query else "",
    )
