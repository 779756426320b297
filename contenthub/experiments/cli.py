"""Experiment commands, mounted as ``contenthub experiments ...``: ``simulate`` runs a synthetic
experiment with a known true effect through the real pipeline and prints what the report found;
``report`` prints an experiment's report (the same JSON/CSV as the HTTP export)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

sim_app = typer.Typer(help="A/B experiments: reports, and a simulated known effect end to end.", no_args_is_help=True)


@sim_app.command()
def simulate(
    users: Annotated[int, typer.Option(min=20, help="Simulated users (split 50/50).")] = 4000,
    days: Annotated[int, typer.Option(min=1, max=60, help="Days the experiment runs; users arrive over them.")] = 5,
    sends: Annotated[int, typer.Option(min=1, max=10, help="Deliveries per user, on consecutive days.")] = 2,
    lift: Annotated[float, typer.Option(min=-0.9, max=10, help="True relative lift of the click probability.")] = 0.10,
    p_open: Annotated[float, typer.Option(min=0.0, max=1.0, help="Open probability per delivery.")] = 0.4,
    p_click: Annotated[float, typer.Option(min=0.0, max=1.0, help="Control click probability given an open.")] = 0.25,
    sequential: Annotated[bool, typer.Option(help="Report with always-valid (sequential) intervals.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated behaviour.")] = 7,
    key: Annotated[str, typer.Option(help="Experiment key to create.")] = "sim",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Run inside this data directory "
            "(default: a temporary one, deleted afterwards, so real data is never touched).",
        ),
    ] = None,
) -> None:
    """Create users, assign them through next-content requests, send events with a known effect, report."""
    from contenthub.config import Settings
    from contenthub.errors import ProblemError
    from contenthub.experiments.simulator import SimConfig, run_simulation
    from contenthub.hub import open_hub

    cfg = SimConfig(
        key=key,
        users=users,
        days=days,
        sends=sends,
        lift=lift,
        p_open=p_open,
        p_click_given_open=p_click,
        sequential=sequential,
        seed=seed,
    )
    with tempfile.TemporaryDirectory(prefix="contenthub-sim-") as tmp:
        hub = open_hub(Settings(data_dir=data_dir or Path(tmp)))
        try:
            result = run_simulation(hub, cfg)
        except ProblemError as err:
            typer.secho(err.message, fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        finally:
            hub.close()
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))


@sim_app.command()
def report(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default: CONTENTHUB_DATA_DIR or ./data)")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON.")] = False,
    sequential: Annotated[bool | None, typer.Option(help="Override the experiment's sequential setting.")] = None,
    correction: Annotated[str | None, typer.Option(help="none, holm or bh (default: the experiment's).")] = None,
) -> None:
    """Print the report of one experiment, as JSON (default) or CSV."""
    from contenthub.config import Settings
    from contenthub.errors import ProblemError
    from contenthub.experiments.report import build_report, report_csv
    from contenthub.hub import open_hub

    if correction not in (None, "none", "holm", "bh"):
        typer.secho(
            f"Unknown correction '{correction}'. Allowed values: none, holm, bh.", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    hub = open_hub(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        rep = build_report(hub, key, sequential=sequential, correction=correction)  # type: ignore[arg-type]
    except ProblemError as err:
        typer.secho(err.message, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        hub.close()
    typer.echo(report_csv(rep).rstrip("\n") if as_csv else rep.model_dump_json(indent=2))
