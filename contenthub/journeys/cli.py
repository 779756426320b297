"""Journey commands, mounted as ``contenthub journeys ...``: ``run`` is the scheduler worker,
``simulate`` runs a cohort through a default journey and prints its funnel, ``templates`` installs
the default templates, ``funnel`` prints one journey's funnel."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

journeys_app = typer.Typer(
    help="Journeys (SOP workflows): scheduler worker, simulation, templates, funnels.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CONTENTHUB_DATA_DIR or ./data)")
]


def _hub(data_dir: Path | None):  # noqa: ANN202 - deferred imports keep `--help` fast
    from contenthub.config import Settings
    from contenthub.hub import open_hub

    return open_hub(Settings(data_dir=data_dir) if data_dir else Settings())


@journeys_app.command()
def run(
    data_dir: DataDir = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between scheduler ticks.")] = 30.0,
    once: Annotated[bool, typer.Option(help="Advance everything due now, run the sweeps once, and exit.")] = False,
) -> None:
    """The scheduler worker: advance due users, run trigger sweeps, close expired sends (until Ctrl-C)."""
    from contenthub.journeys import dueindex, worker

    hub = _hub(data_dir)
    try:
        if once:
            typer.echo(worker.tick(hub).model_dump_json())
            return
        stop = threading.Event()

        def report(res: object) -> None:
            if getattr(res, "processed", 0) or getattr(res, "lease", None):
                typer.echo(res.model_dump_json())  # type: ignore[attr-defined]

        typer.echo(f"journeys scheduler: every {interval:g}s (Ctrl-C to stop)", err=True)
        try:
            worker.run_forever(hub, interval, stop, on_tick=report)
        except KeyboardInterrupt:
            stop.set()
            dueindex.release_lease(hub)
    finally:
        hub.close()


@journeys_app.command()
def simulate(
    users: Annotated[int, typer.Option(min=10, max=200000, help="New contacts in the cohort.")] = 5000,
    days: Annotated[int, typer.Option(min=1, max=90, help="Simulated days.")] = 33,
    journey: Annotated[str, typer.Option(help="Default template to run.")] = "new-contact-care",
    seed: Annotated[int, typer.Option(help="Random seed of the simulated behaviour.")] = 7,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Run inside this data directory "
            "(default: a temporary one, deleted afterwards, so real data is never touched).",
        ),
    ] = None,
) -> None:
    """Run a simulated cohort of new users through a default journey and print the funnel JSON."""
    from contenthub.config import Settings
    from contenthub.hub import open_hub
    from contenthub.journeys.simulate import CohortConfig, run_cohort

    cfg = CohortConfig(users=users, days=days, journey=journey, seed=seed)
    with tempfile.TemporaryDirectory(prefix="contenthub-journeys-") as tmp:
        hub = open_hub(Settings(data_dir=data_dir or Path(tmp), journeys_loop_seconds=0))
        try:
            result = run_cohort(hub, cfg)
        finally:
            hub.close()
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@journeys_app.command()
def templates(
    data_dir: DataDir = None,
    activate: Annotated[bool, typer.Option(help="Install as active instead of draft.")] = False,
) -> None:
    """Install every default template that is not installed yet."""
    from contenthub.journeys import service
    from contenthub.journeys.templates import TEMPLATES

    hub = _hub(data_dir)
    try:
        for tid in TEMPLATES:
            if tid in service.heads(hub):
                typer.echo(f"{tid}: already installed")
                continue
            j = service.install_template(hub, tid, "cli", status="active" if activate else "draft")
            typer.echo(f"{tid}: installed ({j.status})")
    finally:
        hub.close()


@journeys_app.command()
def funnel(
    journey_id: Annotated[str, typer.Argument(help="Journey id.")],
    data_dir: DataDir = None,
    version: Annotated[int | None, typer.Option(help="One version (default: all summed).")] = None,
) -> None:
    """Print a journey's per-step funnel as JSON."""
    from contenthub.errors import ProblemError
    from contenthub.journeys import funnel as funnel_service

    hub = _hub(data_dir)
    try:
        typer.echo(funnel_service.build(hub, journey_id, version).model_dump_json(indent=2))
    except ProblemError as err:
        typer.secho(err.message, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        hub.close()
