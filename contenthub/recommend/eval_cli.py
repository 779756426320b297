"""`contenthub eval …`: offline quality evaluations of the recommender (MovieLens protocol of DESIGN.md)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

eval_app = typer.Typer(help="Offline quality evaluations of the recommender.", no_args_is_help=True)

DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "contenthub-eval"


@eval_app.command("movielens")
def movielens(
    directory: Annotated[Path, typer.Argument(help="An unpacked ml-latest-small (ratings.csv, movies.csv, tags.csv)")],
    work_dir: Annotated[Path | None, typer.Option(help="Temp hub and the vector cache (keyed by model id)")] = None,
    split: Annotated[
        str, typer.Option(help="'test' (the protocol) or 'validation' (carved from train, for tuning)")
    ] = "test",
    peers: Annotated[bool, typer.Option(help="Also run popularity, item-kNN, implicit ALS and BPR")] = True,
    weights: Annotated[str | None, typer.Option(help="JSON object overriding the movielens strategy's weights")] = None,
    half_life_days: Annotated[float | None, typer.Option(help="Profile half-life of the eval hub")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here")] = None,
) -> None:
    """Run the MovieLens protocol: ours through the real pipeline, and peers on the same split; prints JSON."""
    from contenthub.recommend.evaluation import movielens as ml

    if split not in ("test", "validation"):
        raise typer.BadParameter("split must be 'test' or 'validation'", param_hint="--split")
    cfg = ml.OursConfig()
    if weights:
        try:
            cfg.strategy.weights.update({k: float(v) for k, v in json.loads(weights).items()})
        except (ValueError, AttributeError) as exc:
            raise typer.BadParameter(f"not a JSON object of numbers: {exc}", param_hint="--weights") from None
    if half_life_days is not None:
        cfg.half_life_days = half_life_days
    try:
        report = ml.run(
            directory, work_dir or DEFAULT_WORK_DIR, split_name=split, cfg=cfg, with_peers=peers, progress=True
        )
    except FileNotFoundError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    text = ml.to_json(report)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
