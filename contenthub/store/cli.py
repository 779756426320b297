"""`contenthub store …`: create a store's indices or tables, and copy all data between two stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from contenthub.config import Settings

store_app = typer.Typer(help="Store: create indices/tables, copy everything between SQLite and Elasticsearch.",
                        no_args_is_help=True)

UrlArg = Annotated[Optional[str], typer.Argument(
    help="Store URL: sqlite:///path/contenthub.db or elasticsearch://host:9200 (default: the configured store).")]


@store_app.command()
def init(
    url: UrlArg = None,
    prefix: Annotated[Optional[str], typer.Option(help="Elasticsearch index prefix (default: settings)")] = None,
) -> None:
    """Create what the store needs before first use: SQLite tables (migrations) or every Elasticsearch
    index with its alias (otherwise each index is created on its first write)."""
    from contenthub.store.copy import open_url

    settings = Settings()
    store = open_url(url or settings.resolved_store_url(), settings=settings, prefix=prefix)
    try:
        if store.backend == "elasticsearch":
            for alias in store.init():  # type: ignore[attr-defined]
                typer.echo(f"ready: {alias} → {store.schema.concrete(alias.rsplit('-', 1)[1])}")  # type: ignore[attr-defined]
        else:
            typer.echo(f"ready: SQLite schema version {store.schema_version()}")  # type: ignore[attr-defined]
        if not store.integrity_check():
            typer.secho("integrity check failed", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
    finally:
        store.close()


@store_app.command("copy")
def copy_cmd(
    src: Annotated[str, typer.Argument(help="Source store URL.")],
    dst: Annotated[str, typer.Argument(help="Destination store URL.")],
    src_prefix: Annotated[Optional[str], typer.Option(help="Index prefix of an Elasticsearch source.")] = None,
    dst_prefix: Annotated[Optional[str], typer.Option(help="Index prefix of an Elasticsearch destination.")] = None,
    src_media: Annotated[Optional[Path], typer.Option(help="Media folder of the source (default: beside the "
                                                            "SQLite file, or DATA_DIR/media).")] = None,
    dst_media: Annotated[Optional[Path], typer.Option(help="Media folder of the destination.")] = None,
    force: Annotated[bool, typer.Option(help="Copy into a destination that already holds data (upserts by id).")] = False,
    sample: Annotated[int, typer.Option(help="Records of each kind spot-checked after the copy.")] = 50,
) -> None:
    """Copy docs, assets, vectors, events, counters and media from SRC to DST, then verify by counts and
    spot checks. Exit status 1 if anything differs."""
    from contenthub.store.copy import copy_store, is_empty, open_url

    settings = Settings()
    source = open_url(src, settings=settings, prefix=src_prefix, media_dir=src_media)
    target = open_url(dst, settings=settings, prefix=dst_prefix, media_dir=dst_media)
    try:
        if not force and not is_empty(target):
            typer.secho(f"{dst} already holds data; pass --force to copy into it anyway (records are upserted "
                        "by id, nothing is deleted).", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        report = copy_store(source, target, sample=sample)
    finally:
        source.close()
        target.close()
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("copy verified")
