"""`contenthub strategies learn | evaluate`: fit the default strategy's weights on the brand's own events, and
evaluate stored strategies offline on logged picks (IPS, SNIPS, doubly robust)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from contenthub.config import Settings
from contenthub.hub import open_hub
from contenthub.recommend import learning
from contenthub.recommend.evaluation.logged import evaluate_strategies

strategies_app = typer.Typer(help="Ranking strategies: learn weights, evaluate offline.", no_args_is_help=True)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]


@strategies_app.command("learn")
def learn_command(
    strategy: Annotated[str, typer.Option(help="Strategy whose weights to fit.")] = "default",
    data_dir: DataDir = None,
) -> None:
    """Fit the weights on the newest events; activate them only when they win on held-out engagement.
    Prints the job's report (JSON): activated or not, and why."""
    hub = open_hub(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        report = learning.learn(hub, strategy)
    finally:
        hub.close()
    typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))


@strategies_app.command("evaluate")
def evaluate_command(
    strategy: Annotated[list[str] | None, typer.Option(help="Only these strategies (repeatable).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Off-policy value of each stored strategy on the logged picks (JSON)."""
    hub = open_hub(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        table = evaluate_strategies(hub, strategy or None)
    finally:
        hub.close()
    typer.echo(json.dumps(table, indent=2, ensure_ascii=False))
