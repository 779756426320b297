"""Dashboard commands, mounted as ``contenthub dashboard ...``: ``refresh`` rebuilds the rollup, refits the
value model and copies predicted value onto users (what ``POST /v1/dashboard/refresh`` does); ``show``
prints one view as JSON (what ``GET /v1/dashboard/<view>`` returns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

dashboard_app = typer.Typer(
    help="Operations dashboard: refresh the rollup and value model, print views.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CONTENTHUB_DATA_DIR or ./data)")
]


def _hub(data_dir: Path | None):
    from contenthub.config import Settings
    from contenthub.hub import open_hub

    return open_hub(Settings(data_dir=data_dir) if data_dir else Settings())


@dashboard_app.command()
def refresh(
    data_dir: DataDir = None,
    write_attributes: Annotated[bool, typer.Option(help="Copy predicted_value/predicted_tier onto users.")] = True,
) -> None:
    """Rebuild the dashboard rollup now and refit the value model."""
    from contenthub.dashboard import service

    hub = _hub(data_dir)
    try:
        typer.echo(json.dumps(service.refresh(hub, write_attributes=write_attributes), ensure_ascii=False))
    finally:
        hub.close()


@dashboard_app.command()
def show(
    view: Annotated[str, typer.Argument(help="retention, lifecycle, channels, assets, fatigue, ltv or ltv-model")],
    data_dir: DataDir = None,
    channel: str = "wecom_1v1",
    by: str = "week",
) -> None:
    """Print one dashboard view as JSON."""
    from contenthub.dashboard import service

    hub = _hub(data_dir)
    try:
        views = {
            "retention": lambda: service.retention_view(hub, by, 12),  # type: ignore[arg-type]
            "lifecycle": lambda: service.lifecycle_view(hub),
            "channels": lambda: service.channels_view(hub),
            "assets": lambda: service.assets_view(hub),
            "fatigue": lambda: service.fatigue_view(hub, channel),
            "ltv": lambda: service.ltv_observed_view(hub, by),
            "ltv-model": lambda: service.ltv_model_view(hub),
        }
        if view not in views:
            raise typer.BadParameter(f"unknown view '{view}'; use one of {', '.join(views)}")
        typer.echo(views[view]().model_dump_json(indent=1))
    finally:
        hub.close()
