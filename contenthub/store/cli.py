"""`contenthub store …`: create a store's indices or tables, and copy all data between two stores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from contenthub.config import Settings

store_app = typer.Typer(
    help="Store: create indices/tables, copy everything between SQLite and Elasticsearch.", no_args_is_help=True
)

UrlArg = Annotated[
    str | None,
    typer.Argument(
        help="Store URL: sqlite:///path/contenthub.db or elasticsearch://host:9200 (default: the configured store)."
    ),
]


@store_app.command()
def init(
    url: UrlArg = None,
    prefix: Annotated[str | None, typer.Option(help="Elasticsearch index prefix (default: settings)")] = None,
) -> None:
    """Create what the store needs before first use: SQLite tables (migrations) or every Elasticsearch
    index with its alias (otherwise each index is created on its first write)."""
    from contenthub.store.copy import open_url

    settings = Settings()
    store = open_url(url or settings.resolved_store_url(), settings=settings, prefix=prefix)
    try:
        for line in store.prepare():
            typer.echo(f"ready: {line}")
        if not store.integrity_check():
            typer.secho("integrity check failed", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
    finally:
        store.close()


@store_app.command("copy")
def copy_cmd(
    src: Annotated[str, typer.Argument(help="Source store URL.")],
    dst: Annotated[str, typer.Argument(help="Destination store URL.")],
    src_prefix: Annotated[str | None, typer.Option(help="Index prefix of an Elasticsearch source.")] = None,
    dst_prefix: Annotated[str | None, typer.Option(help="Index prefix of an Elasticsearch destination.")] = None,
    src_media: Annotated[
        Path | None,
        typer.Option(help="Media folder of the source (default: beside the SQLite file, or DATA_DIR/media)."),
    ] = None,
    dst_media: Annotated[Path | None, typer.Option(help="Media folder of the destination.")] = None,
    force: Annotated[
        bool, typer.Option(help="Copy into a destination that already holds data (upserts by id).")
    ] = False,
    sample: Annotated[int, typer.Option(help="Records of each kind spot-checked after the copy.")] = 50,
    src_data: Annotated[
        Path | None,
        typer.Option(
            help="Data folder of the source, where its secrets "
            "(.phone_salt, .session_secret) are (default: the SQLite "
            "file's folder, or DATA_DIR)."
        ),
    ] = None,
    dst_data: Annotated[
        Path | None,
        typer.Option(
            help="Data folder the destination will run with; the "
            "secrets are copied there (default: the SQLite file's "
            "folder, the parent of --dst-media, or DATA_DIR)."
        ),
    ] = None,
    replace_secrets: Annotated[
        bool,
        typer.Option(
            help="Replace a different secret already in the destination's data folder (the old one is kept beside it)."
        ),
    ] = False,
) -> None:
    """Copy docs, assets, vectors, events, counters and media from SRC to DST, then verify by counts and
    spot checks, and carry the data folder's secrets that stored data depends on. Exit status 1 if
    anything differs, 2 if nothing was copied (destination not empty, or holding different secrets)."""
    from contenthub.store.copy import copy_store, data_folder, is_empty, open_url
    from contenthub.store.data_secrets import apply_secrets, plan_secrets

    settings = Settings()
    secrets = plan_secrets(
        src_data or data_folder(src, settings, src_media),
        dst_data or data_folder(dst, settings, dst_media),
        settings,
        replace=replace_secrets,
    )
    if secrets.conflicts:
        for line in secrets.conflicts:
            typer.secho(line, fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    source = open_url(src, settings=settings, prefix=src_prefix, media_dir=src_media)
    target = open_url(dst, settings=settings, prefix=dst_prefix, media_dir=dst_media)
    try:
        if not force and not is_empty(target):
            typer.secho(
                f"{dst} already holds data; pass --force to copy into it anyway (records are upserted "
                "by id, nothing is deleted).",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        report = copy_store(source, target, sample=sample)
        apply_secrets(secrets)
    finally:
        source.close()
        target.close()
    for line in report.lines() + secrets.lines:
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("copy verified")


@store_app.command()
def migrate(
    url: UrlArg = None,
    prefix: Annotated[str | None, typer.Option(help="Elasticsearch index prefix (default: settings)")] = None,
    keep_old: Annotated[bool, typer.Option(help="Keep each old index (write-blocked) for a manual rollback.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only say which indices would move.")] = False,
) -> None:
    """Move every Elasticsearch index whose mapping is older than this version's to a new index with the
    current mapping: documents copied with their ids, the alias moved in one step, reads never stopped
    (writes answer 503 while their index is copied). SQLite migrates its tables itself when it opens."""
    from tqdm import tqdm

    from contenthub.store import es_migrate
    from contenthub.store.copy import open_url

    settings = Settings()
    store = open_url(url or settings.resolved_store_url(), settings=settings, prefix=prefix)
    try:
        if store.backend != "elasticsearch":
            typer.echo(f"SQLite schema version {store.schema_version()}: migrated when the store opens")  # type: ignore[attr-defined]
            return
        steps = es_migrate.pending(store)  # type: ignore[arg-type]
        if not steps:
            typer.echo("every index has the current mapping; nothing to migrate")
            return
        if dry_run:
            for step in steps:
                typer.echo(f"would migrate {step.kind}: {step.source} → {step.target}")
            return
        bars: dict[str, tqdm] = {}

        def progress(kind: str, done: int, total: int) -> None:
            bar = bars.get(kind) or bars.setdefault(kind, tqdm(total=total, desc=kind, unit="doc", file=sys.stderr))
            bar.update(done - bar.n)

        done = es_migrate.migrate(store, progress=progress, keep_old=keep_old)  # type: ignore[arg-type]
        for bar in bars.values():
            bar.close()
        for step in done:
            typer.echo(f"migrated {step.line()}")
    finally:
        store.close()
