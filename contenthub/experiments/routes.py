"""HTTP routes of experiments: CRUD, start/stop, and the report as JSON or CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.experiments import planning_service, service
from contenthub.experiments import report as report_service
from contenthub.experiments.models import (
    Correction,
    Experiment,
    ExperimentCreate,
    ExperimentUpdate,
    Status,
)
from contenthub.experiments.planning_service import PlanIn, PlanOut
from contenthub.experiments.report import Report

router = APIRouter(prefix="/v1", tags=["experiments"])

Reader = Annotated[Principal, Depends(require(Perm.reports_read))]
Writer = Annotated[Principal, Depends(require(Perm.experiments_write))]
Sequential = Annotated[
    bool | None,
    Query(
        description=(
            "What if: another analysis than the plan fixed at creation. The report is then marked exploratory and "
            "gives no decision."
        )
    ),
]
CorrectionQ = Annotated[
    Correction | None,
    Query(
        description=("What if: another correction (none, holm, bh) than the plan's; the report is then exploratory.")
    ),
]


@router.post(
    "/experiments/plan",
    response_model=PlanOut,
    summary="Sample size and duration calculator",
    description="Units needed to detect a relative change `mde` of `baseline` with `power` at `alpha`, "
    "for `arms` equal variants (or `weights`), fixed-horizon or sequential; with `units_per_day`, "
    "the days it takes. 422 with the reason for inputs that cannot be planned.",
)
def plan(body: PlanIn, who: Reader) -> PlanOut:
    return planning_service.plan(body)


@router.post(
    "/experiments",
    response_model=Experiment,
    status_code=201,
    summary="Create an experiment (draft)",
    description="Weights must sum to 1 (422 otherwise). The first variant is the control.",
)
def create(body: ExperimentCreate, hub: HubDep, who: Writer) -> Experiment:
    return service.create_experiment(hub, body, actor=who.name)


@router.get("/experiments", response_model=list[Experiment], summary="List experiments, newest first")
def list_all(hub: HubDep, who: Reader, status: Status | None = None) -> list[Experiment]:
    return service.list_experiments(hub, status)


@router.get("/experiments/{key}", response_model=Experiment)
def get_one(key: str, hub: HubDep, who: Reader) -> Experiment:
    return service.get_experiment(hub, key)


@router.patch(
    "/experiments/{key}",
    response_model=Experiment,
    summary="Edit an experiment",
    description="While running or stopped only name, hypothesis, metrics, analysis settings and a larger "
    "coverage may change (409 otherwise).",
)
def update(key: str, body: ExperimentUpdate, hub: HubDep, who: Writer) -> Experiment:
    return service.update_experiment(hub, key, body)


@router.delete("/experiments/{key}", status_code=204, summary="Delete a draft or stopped experiment and its exposures")
def delete(key: str, hub: HubDep, who: Writer) -> Response:
    service.delete_experiment(hub, key)
    return Response(status_code=204)


@router.post(
    "/experiments/{key}/start",
    response_model=Experiment,
    summary="Start a draft",
    description="409 naming the running experiment when one in the same layer has an overlapping range.",
)
def start(key: str, hub: HubDep, who: Writer) -> Experiment:
    return service.start_experiment(hub, key)


@router.post("/experiments/{key}/stop", response_model=Experiment, summary="Stop a running experiment")
def stop(key: str, hub: HubDep, who: Writer) -> Experiment:
    return service.stop_experiment(hub, key)


@router.get(
    "/experiments/{key}/report",
    response_model=Report,
    summary="Results: per metric a row per variant",
    description="An experiment without exposures gets `has_exposures: false` and no metrics, not an error.",
)
async def get_report(
    key: str, hub: HubDep, who: Reader, sequential: Sequential = None, correction: CorrectionQ = None
) -> Report:
    return await run_in_threadpool(report_service.build_report, hub, key, sequential=sequential, correction=correction)


@router.get(
    "/experiments/{key}/report.csv",
    summary="Results as CSV (one line per metric and variant)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_report_csv(
    key: str, hub: HubDep, who: Reader, sequential: Sequential = None, correction: CorrectionQ = None
) -> Response:
    rep = await run_in_threadpool(report_service.build_report, hub, key, sequential=sequential, correction=correction)
    return Response(
        report_service.report_csv(rep),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="experiment-{key}.csv"'},
    )
