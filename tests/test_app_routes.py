"""The app's route table: every router's routes are on the app, and the order chosen for speed (hot routes
first, see contenthub/app.py) resolves every request to the same route as the routers' original order."""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path

from starlette.routing import BaseRoute

from contenthub.app import create_app
from contenthub.config import Settings

ORIGINAL_ORDER = [
    "contenthub.library.routes",
    "contenthub.recommend.routes",
    "contenthub.audience.routes",
    "contenthub.publish.routes",
    "contenthub.access.routes",
    "contenthub.web.pages",
    "contenthub.library.pages",
    "contenthub.publish.pages",
    "contenthub.experiments.routes",
    "contenthub.experiments.pages",
    "contenthub.audience.pages",
    "contenthub.recommend.pages",
    "contenthub.library.tagging_routes",
    "contenthub.library.review_pages",
    "contenthub.journeys.routes",
    "contenthub.journeys.pages",
]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _routers() -> list[list[BaseRoute]]:
    import importlib

    return [list(importlib.import_module(name).router.routes) for name in ORIGINAL_ORDER]


def _resolve(routes: list[BaseRoute], method: str, path: str) -> BaseRoute | None:
    """Starlette's rule: the first full match (path and method), else the first path-only match (405)."""
    partial = None
    for route in routes:
        regex = getattr(route, "path_regex", None)
        if regex is None or not regex.match(path):
            continue
        methods = getattr(route, "methods", None)
        if not methods or method in methods:
            return route
        partial = partial or route
    return partial


def test_every_route_is_on_the_app_and_resolves_as_in_the_original_order(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, session_secret="t", journeys_loop_seconds=0))
    original = [r for routes in _routers() for r in routes]
    on_app = [r for r in app.router.routes if r in original]
    assert len(on_app) == len(original) and set(map(id, on_app)) == set(map(id, original)), (
        "a router's routes are missing"
    )
    assert app.openapi()["paths"], "the OpenAPI document lists the API routes"

    formats = [getattr(r, "path_format", "") for r in original]
    words = sorted({w for f in formats for w in f.split("/") if w and "{" not in w} | {"x", "x/y", "1"})
    checked = 0
    for fmt in set(formats):
        for word, method in product(words, METHODS):
            path = re.sub(r"\{[^}]+\}", word, fmt)
            for p in (path, path + "/"):
                assert _resolve(on_app, method, p) is _resolve(original, method, p), f"{method} {p} resolves elsewhere"
                checked += 1
    assert checked > 10_000
