"""Console pages that change experiments: the 'new experiment' form, and start / stop buttons on a report.

Registered before ``experiments.pages`` so ``/experiments/new`` is this form, not an experiment called 'new'.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from contenthub import audit
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, check_csrf, require
from contenthub.errors import ProblemError
from contenthub.experiments import service
from contenthub.experiments.console_form import (
    CONSOLE_CHANGES,
    FIELDS,
    METHODS,
    ExperimentForm,
    to_create,
)
from contenthub.experiments.metrics import METRICS
from contenthub.journeys import service as journeys
from contenthub.library import taxonomy
from contenthub.recommend import strategies
from contenthub.web.forms import field_errors
from contenthub.web.templating import path_segment, render

router = APIRouter(include_in_schema=False)
Writer = Annotated[Principal, Depends(require(Perm.experiments_write))]
BLANK = ExperimentForm()


def _form_page(
    request: Request, hub: HubDep, form: ExperimentForm, errors: dict[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "experiments/new.html",
        status_code=status_code,
        form=form,
        errors=errors or {},
        changes=CONSOLE_CHANGES,
        methods=METHODS,
        metrics=METRICS,
        strategies=strategies.list_strategies(hub),
        journeys=journeys.list_journeys(hub),
        channels=taxonomy.entries(hub.store, "channels"),
    )


@router.get("/experiments/new", response_class=HTMLResponse)
def new_experiment_form(request: Request, hub: HubDep, who: Writer) -> HTMLResponse:
    return _form_page(request, hub, ExperimentForm())


@router.post("/experiments/new", response_class=HTMLResponse, response_model=None)
def create_experiment(
    request: Request,
    hub: HubDep,
    who: Writer,
    csrf_token: Annotated[str, Form()] = "",
    form: Annotated[ExperimentForm, Form()] = BLANK,
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    try:
        exp = service.create_experiment(hub, to_create(form), who.name)
    except ProblemError as exc:
        errors = field_errors(exc, FIELDS)
        if exc.field and exc.field.startswith("variants"):
            errors = {"treatment_strategy" if form.change == "strategy" else "journey_to": exc.message}
        return _form_page(request, hub, form, errors, status_code=exc.status)
    audit.record(hub, who.name, "create", "experiment", exp.key)
    return RedirectResponse(f"/experiments/{path_segment(exp.key)}", status_code=303)


def _transition(
    request: Request, hub: HubDep, who: Principal, key: str, action: str
) -> HTMLResponse | RedirectResponse:
    """Start a draft or stop a running experiment; a refusal (already running, overlapping layer) is shown
    as a page in the reader's language with a way back."""
    try:
        if action == "start":
            service.start_experiment(hub, key)
        else:
            service.stop_experiment(hub, key)
    except ProblemError as exc:
        if exc.status in (401, 403, 404):
            raise
        return render(
            request,
            "error.html",
            status_code=exc.status,
            message=exc.message,
            status=exc.status,
            back=f"/experiments/{path_segment(key)}",
        )
    audit.record(hub, who.name, action, "experiment", key)
    return RedirectResponse(f"/experiments/{path_segment(key)}", status_code=303)


@router.post("/experiments/{key}/start", response_class=HTMLResponse, response_model=None)
def start(
    request: Request, hub: HubDep, who: Writer, key: str, csrf_token: Annotated[str, Form()] = ""
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    return _transition(request, hub, who, key, "start")


@router.post("/experiments/{key}/stop", response_class=HTMLResponse, response_model=None)
def stop(
    request: Request, hub: HubDep, who: Writer, key: str, csrf_token: Annotated[str, Form()] = ""
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    return _transition(request, hub, who, key, "stop")
