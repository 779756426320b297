"""`contenthub tag …`: fill suggestions in bulk, retrain the suggester, show its accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

tag_app = typer.Typer(help="Tag suggestions: bulk suggest, train, accuracy.", no_args_is_help=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CONTENTHUB_DATA_DIR or ./data)")
]


def _hub(data_dir: Path | None):  # noqa: ANN202 - imports deferred to keep `--help` fast
    from contenthub.config import Settings
    from contenthub.hub import open_hub

    return open_hub(Settings(data_dir=data_dir) if data_dir else Settings())


@tag_app.command("suggest")
def suggest_cmd(
    missing: bool = typer.Option(False, "--missing", help="Only untagged assets (no confirmed scene)."),
    data_dir: DataDir = None,
) -> None:
    """Recompute suggestions with the current suggester (stored vectors, no re-embedding)."""
    from contenthub.library import tagging

    if not missing:
        typer.secho("Say which assets: --missing (untagged assets).", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    hub = _hub(data_dir)
    try:
        ids = tagging.untagged_ids(hub)
        with tqdm(total=len(ids), unit="asset", desc="suggest") as bar:
            n = tagging.suggest_missing(hub, ids=ids, progress=bar.update)
        _, total = tagging.review_queue(hub, limit=1)
        typer.echo(f"suggested tags for {n} untagged assets; {total} wait for review at /library/review")
    finally:
        hub.close()


@tag_app.command("train")
def train_cmd(
    data_dir: DataDir = None, as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
) -> None:
    """Train the suggester on confirmed tags and editor feedback now; prints validation accuracy."""
    from contenthub.library import tagging

    hub = _hub(data_dir)
    try:
        tagging.wait_for_training(hub)
        report = tagging.train_suggester(hub)
    finally:
        hub.close()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    if not report.trained:
        typer.echo(f"not trained: {report.reason}")
        return
    typer.echo(
        f"model v{report.version}: {report.examples} confirmed assets ({report.corrections} editor "
        f"corrections) in {report.seconds:.1f} s"
    )
    for facet, r in report.facets.items():
        typer.echo(
            f"  {facet:<14} validation top-1 {r.top1:.1%}  top-3 {r.top3:.1%}  "
            f"(descriptions+cues {r.top1_descriptions_cues:.1%} / {r.top3_descriptions_cues:.1%})"
        )


@tag_app.command("accuracy")
def accuracy_cmd(data_dir: DataDir = None, recent: int = typer.Option(200, help="Latest decisions to read.")) -> None:
    """How often editors kept the suggestions, over their recent decisions (JSON)."""
    from contenthub.library import tagging

    hub = _hub(data_dir)
    try:
        typer.echo(json.dumps(tagging.accuracy(hub, recent).model_dump(), ensure_ascii=False, indent=2))
    finally:
        hub.close()
