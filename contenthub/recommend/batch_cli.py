"""`contenthub recommend batch`: next content for every user (or a segment's members) into a JSON-lines file.

For the nightly job that prepares a mass send: the vectorised batch ranker (``recommend.batch``) instead of
one ``next_for_user`` call per user, with a progress bar, written atomically (a temp file renamed at the end,
so a killed run never leaves half a file where the sender looks).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

recommend_app = typer.Typer(help="Recommendations in bulk.", no_args_is_help=True)


@recommend_app.command("batch")
def batch_command(
    channel: Annotated[str, typer.Option(help="Channel to recommend for, e.g. wecom_1v1.")],
    out: Annotated[Path, typer.Option(help="JSON-lines file to write ('-' for standard output).")],
    segment: Annotated[str | None, typer.Option(help="Only this segment's members (default: every user).")] = None,
    scene: Annotated[str | None, typer.Option(help="Only assets of this scene.")] = None,
    n: Annotated[int, typer.Option(min=1, max=100, help="Picks per user.")] = 1,
    strategy: Annotated[str, typer.Option(help="Stored strategy id.")] = "default",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory")] = None,
) -> None:
    """Write one line per user: target, stage, picks (asset, score, recommendation id), capped."""
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from contenthub.audience import segments, users
    from contenthub.config import Settings
    from contenthub.errors import ProblemError
    from contenthub.hub import open_hub
    from contenthub.recommend import batch, service, strategies

    hub = open_hub(Settings(data_dir=data_dir) if data_dir else Settings())
    try:
        try:
            service._validate(hub, channel, scene, n)
            strategies.get_strategy(hub, strategy)
            members = list(
                segments.members(hub, segments.get_segment(hub, segment), limit=10_000_000)
                if segment
                else (u["id"] for u in users.iter_users(hub, page=5000))
            )
        except ProblemError as exc:
            typer.secho(exc.message, fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        tmp = None if str(out) == "-" else out.with_name(f".{out.name}.tmp")
        sink = sys.stdout if tmp is None else tmp.open("w", encoding="utf-8")
        picked = 0
        try:
            # the job owns the process: BLAS may use every core (serving keeps it to one)
            with (
                threadpool_limits(os.cpu_count() or 1, user_api="blas"),
                tqdm(total=len(members), unit="user", file=sys.stderr, disable=None) as bar,
            ):
                for line in batch.pick_lines(hub, members, channel, scene=scene, n=n, strategy=strategy):
                    sink.write(json.dumps(line, ensure_ascii=False) + "\n")
                    picked += bool(line["picks"])
                    bar.update()
        finally:
            if tmp is not None:
                sink.close()
        if tmp is not None:
            os.replace(tmp, out)
        typer.echo(f"{len(members)} users, {picked} with picks → {out}", err=True)
    finally:
        hub.close()
