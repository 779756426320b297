"""Copy everything one store holds into another (SQLite ⇄ Elasticsearch, or same to same), then verify.

What is copied: documents of every collection *with their versions* (clients hold versions for
compare-and-set), assets, vectors with their model ids, events (no counters derived: the counters are
copied as they are), counters, media metadata and — when the two stores use different folders — media
bytes. Every write is an upsert by id, so a copy interrupted half way can simply be run again.

The ``Store`` interface has no "list every collection" or "overwrite a counter" call (domain code
never needs them), so each backend implements those few bulk reads and writes too (``BulkIO``).
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import filetype
import numpy as np
from tqdm import tqdm

from contenthub.config import Settings
from contenthub.store.base import Store
from contenthub.store.query import AssetFilter, EventQuery
from contenthub.timeutil import from_iso, to_iso, utcnow

BATCH = 1000


@runtime_checkable
class BulkIO(Protocol):
    """The bulk reads and writes a copy needs beyond the ``Store`` interface (each backend has them: the
    SQLite store in store/sqlite/copy_io.py, Elasticsearch in store/elastic/copy_io.py)."""

    def collections(self) -> list[str]: ...
    def iter_doc_versions(self, collection: str) -> Iterator[list[tuple[str, dict[str, Any], int]]]: ...
    def import_docs(self, collection: str, rows: list[tuple[str, dict[str, Any], int]]) -> None: ...
    def iter_assets(self, batch: int = BATCH) -> Iterator[list[dict[str, Any]]]: ...
    def iter_vectors(self, batch: int = BATCH) -> Iterator[list[tuple[str, str, np.ndarray]]]: ...
    def counter_collections(self) -> list[str]: ...
    def set_counters(self, collection: str, rows: dict[str, dict[str, float]]) -> None: ...
    def iter_media(self) -> Iterator[dict[str, Any]]: ...
    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None: ...


def raw_for(store: Store) -> BulkIO:
    """The store's bulk calls (TypeError for a backend without them)."""
    if not isinstance(store, BulkIO):
        raise TypeError(f"no copy support for the {store.backend} backend")
    return store


def open_url(url: str, *, settings: Settings, prefix: str | None = None, media_dir: Path | None = None) -> Store:
    """Open a store by URL: ``sqlite:///path/file.db`` (media beside it in ``media/`` unless given) or
    ``elasticsearch://host:port`` / ``http(s)://…`` (index prefix and media folder from settings unless given)."""
    if url.startswith("sqlite:///"):
        from contenthub.store.sqlite import SQLiteStore

        path = Path(url.removeprefix("sqlite:///"))
        return SQLiteStore(path, media_dir or path.parent / "media")
    if url.startswith(("elasticsearch://", "elasticsearch+https://", "http://", "https://")):
        from contenthub.store.elastic import ElasticStore

        return ElasticStore(url, settings, prefix=prefix, media_dir=media_dir)
    raise ValueError(f"Unsupported store URL {url!r}: use sqlite:///path/to/file.db or elasticsearch://host:port")


def data_folder(url: str, settings: Settings, media_dir: Path | None = None) -> Path:
    """The data folder a store at ``url`` runs with, where its generated secrets live: beside a SQLite file
    (where the app keeps them with the default store URL), else the parent of its media folder, else
    ``DATA_DIR``."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return media_dir.parent if media_dir is not None else settings.data_dir


@dataclass
class CopyReport:
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # what → (source, destination)
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"{what:<28} {src:>10} → {dst:<10} {'ok' if src == dst else 'MISMATCH'}"
            for what, (src, dst) in sorted(self.counts.items())
        ]
        out.append(f"spot checks: {self.checked} records compared, {len(self.problems)} problem(s)")
        out.extend(f"  - {p}" for p in self.problems[:20])
        return out


def is_empty(store: Store) -> bool:
    raw = raw_for(store)
    return (
        store.count_assets(AssetFilter()) == 0
        and store.count_events() == 0
        and not raw.collections()
        and not raw.counter_collections()
    )


def copy_store(src: Store, dst: Store, *, progress: bool = True, sample: int = 20, seed: int = 0) -> CopyReport:
    """Copy every kind of data from ``src`` to ``dst`` and verify by counts and sampled records."""
    rs, rd = raw_for(src), raw_for(dst)
    rng = random.Random(seed)
    samples: dict[str, list[Any]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)

    def keep(kind: str, item: Any) -> None:
        """Reservoir sample: every record has the same chance of being spot-checked."""
        seen[kind] += 1
        if len(samples[kind]) < sample:
            samples[kind].append(item)
        elif (j := rng.randrange(seen[kind])) < sample:
            samples[kind][j] = item

    def bar(kind: str, total: int) -> tqdm:
        return tqdm(total=total, desc=f"copy {kind}", unit="rec", disable=not progress, leave=True)

    for collection in rs.collections():
        with bar(f"docs:{collection}", src.count_docs(collection)) as pb:
            for docs in rs.iter_doc_versions(collection):
                rd.import_docs(collection, docs)
                for row in docs:
                    keep("docs", (collection, *row))
                pb.update(len(docs))

    with bar("assets", src.count_assets(AssetFilter())) as pb:
        for assets in rs.iter_assets(BATCH):
            dst.put_assets(assets)
            for a in assets:
                keep("assets", a)
            pb.update(len(assets))

    with bar("vectors", sum(src.vector_model_ids().values())) as pb:
        for vector_rows in rs.iter_vectors(BATCH):
            by_model: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
            for aid, model, vec in vector_rows:
                by_model[model][aid] = vec
                keep("vectors", (aid, vec))
            for model, vectors in by_model.items():
                dst.put_vectors(model, vectors)
            pb.update(len(vector_rows))

    with bar("events", src.count_events()) as pb:
        for events in src.iter_events(batch=5000):
            dst.add_events(events)  # no deriver: the counters are copied as they are
            for e in events:
                keep("events", e)
            pb.update(len(events))

    counter_totals: dict[str, tuple[int, float]] = {}
    for collection in rs.counter_collections():
        rows: dict[str, dict[str, float]] = defaultdict(dict)
        n, total = 0, 0.0
        with bar(f"counters:{collection}", None) as pb:  # type: ignore[arg-type]
            for key, fld, value in src.scan_counters(collection):
                rows[key][fld] = value
                n += 1
                total += value
                if len(rows) >= BATCH:
                    rd.set_counters(collection, dict(rows))
                    for k in rows:
                        keep("counters", (collection, k))
                    pb.update(len(rows))
                    rows.clear()
            if rows:
                rd.set_counters(collection, dict(rows))
                for k in rows:
                    keep("counters", (collection, k))
                pb.update(len(rows))
        counter_totals[collection] = (n, total)

    media = list(rs.iter_media())
    with bar("media", len(media)) as pb:
        for m in media:
            _copy_media_file(src, dst, m)
            rd.record_media(m["sha256"], m["size"], m["mime"], m["created_at"])
            keep("media", m)
            pb.update(1)
        for sha, path in _unrecorded_media_files(src, {m["sha256"] for m in media}):
            head = path.read_bytes()[:8192]
            kind = filetype.guess(head)
            size, mime, created_at = (
                path.stat().st_size,
                kind.mime if kind else "application/octet-stream",
                to_iso(utcnow()),
            )
            _copy_media_file(src, dst, {"sha256": sha, "size": size, "mime": mime})
            rd.record_media(sha, size, mime, created_at)

    return verify(src, dst, samples, counter_totals)


def _copy_media_file(src: Store, dst: Store, m: dict[str, Any]) -> None:
    sha = m["sha256"]
    source = src.media_path(sha)
    if source is None or dst.media_path(sha) is not None:
        return
    tmp = dst.media_tmp_dir() / f"copy-{sha}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, tmp)
    dst.put_media_file(tmp, sha, int(m["size"]), m["mime"])


def _unrecorded_media_files(src: Store, known: set[str]) -> Iterator[tuple[str, Path]]:
    """Files in the media folder without a metadata record (e.g. stored when the record was lost)."""
    root = src.media_tmp_dir().parent
    for path in root.glob("??/??/*"):
        if path.is_file() and len(path.name) == 64 and path.name not in known:
            yield path.name, path


def verify(
    src: Store, dst: Store, samples: dict[str, list[Any]], counter_totals: dict[str, tuple[int, float]] | None = None
) -> CopyReport:
    """Counts of every kind on both sides, then the sampled records compared field by field."""
    rs, rd = raw_for(src), raw_for(dst)
    report = CopyReport()
    for collection in rs.collections():
        report.counts[f"docs:{collection}"] = (src.count_docs(collection), dst.count_docs(collection))
    report.counts["assets"] = (src.count_assets(AssetFilter()), dst.count_assets(AssetFilter()))
    for model, n in src.vector_model_ids().items():
        report.counts[f"vectors:{model}"] = (n, dst.vector_model_ids().get(model, 0))
    report.counts["events"] = (src.count_events(), dst.count_events())
    for collection in rs.counter_collections():
        n_src, total_src = (counter_totals or {}).get(collection) or _counter_total(src, collection)
        n_dst, total_dst = _counter_total(dst, collection)
        report.counts[f"counters:{collection}"] = (n_src, n_dst)
        if not np.isclose(total_src, total_dst, rtol=1e-9, atol=1e-6):
            report.problems.append(f"counters:{collection} sums differ: {total_src} vs {total_dst}")
    report.counts["media"] = (sum(1 for _ in rs.iter_media()), sum(1 for _ in rd.iter_media()))
    for what, (a, b) in report.counts.items():
        if a != b:
            report.problems.append(f"{what}: {a} in the source, {b} in the destination")

    for collection, doc_id, body, version in samples.get("docs", []):
        report.checked += 1
        if dst.get_doc_version(collection, doc_id) != (body, version):
            report.problems.append(f"doc {collection}/{doc_id} differs")
    for asset in samples.get("assets", []):
        report.checked += 1
        if dst.get_asset(asset["id"]) != asset:
            report.problems.append(f"asset {asset['id']} differs")
    for aid, vec in samples.get("vectors", []):
        report.checked += 1
        found, mat = dst.get_vectors([aid])
        if found != [aid] or not np.allclose(mat[0], vec, atol=1e-6):
            report.problems.append(f"vector of {aid} differs")
    for ev in samples.get("events", []):
        report.checked += 1
        ts = from_iso(ev["ts"])
        q = EventQuery(
            user_ids=(ev["user_id"],) if ev.get("user_id") else (),
            group_ids=(ev["group_id"],) if ev.get("group_id") and not ev.get("user_id") else (),
            since=ts,
            until=ts + timedelta(microseconds=1),
            limit=10_000,
        )
        if not any(e == ev for e in dst.query_events(q)):
            report.problems.append(f"event {ev['id']} differs or is missing")
    for collection, key in samples.get("counters", []):
        report.checked += 1
        was, now = src.get_counters(collection, key), dst.get_counters(collection, key)
        if was.keys() != now.keys() or not all(np.isclose(was[f], now[f], rtol=1e-12, atol=1e-9) for f in was):
            report.problems.append(f"counters {collection}/{key} differ")
    for m in samples.get("media", []):
        report.checked += 1
        path = dst.media_path(m["sha256"])
        if path is None or path.stat().st_size != m["size"]:
            report.problems.append(f"media {m['sha256'][:12]}… missing or a different size")
    return report


def _counter_total(store: Store, collection: str) -> tuple[int, float]:
    n, total = 0, 0.0
    for _key, _field, value in store.scan_counters(collection):
        n += 1
        total += value
    return n, total
