"""Who may call what: every route of the app × every role (admin, editor, bot, viewer, none), over HTTP.

Three layers, so the matrix is reviewed rather than just mirrored:
1. Routes are enumerated from the app itself, and each route's permission is read from the ``require(Perm)``
   dependency it declares; a route with no permission dependency must be listed in ``PUBLIC``.
2. The derived route × role table must equal the reviewed table in ``tests/data/role_matrix.md``: a new or
   changed route fails here until its row is added (regenerate with ``CONTENTHUB_WRITE_ROLE_MATRIX=1`` and
   review the diff), so no route reaches production without someone deciding who may call it.
3. ``INTENT`` spells out by hand who may call the routes that matter most (sending, events, erasure, keys,
   audit, caps, plans, experiments); it is checked against the derived table, independently of roles.MATRIX.
Finally each cell is exercised with a real request: denied cells must get 401/403 (pages: a login redirect
for no key), allowed cells must get past authorisation (anything but those).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from contenthub.access.roles import MATRIX, Perm, Role

ROLES = ("admin", "editor", "bot", "viewer", "none")
TABLE = Path(__file__).parent / "data" / "role_matrix.md"

PUBLIC: dict[str, str] = {
    "GET /": "redirects to /library",
    "GET /login": "login form",
    "POST /login": "login (CSRF-checked; the key is the credential)",
    "POST /logout": "logout (CSRF-checked)",
    "GET /healthz": "liveness probe, no data",
    "GET /readyz": "readiness probe: 503 while the store is unreachable, no data",
    "GET /openapi.json": "API schema",
    "GET /docs": "API docs page",
    "GET /docs/oauth2-redirect": "API docs helper",
    "GET /redoc": "API docs page",
    "GET /v1/me": "any valid key or session (401 without)",
}
"""Routes without a permission dependency, each with the reason it needs none."""

ANY_KEY = {"GET /v1/me"}

INTENT: dict[str, set[str]] = {
    # bots: next content, events, due sends, publishing what they sent — and nothing of the library or people
    "GET /v1/recommendations/users/{user_id}": {"admin", "editor", "bot"},
    "GET /v1/recommendations/groups/{group_id}": {"admin", "editor", "bot"},
    "POST /v1/events": {"admin", "editor", "bot"},
    "GET /v1/plans/{week}/due": {"admin", "editor", "bot", "viewer"},
    "POST /v1/plans/{week}/slots/{slot_id}/publish": {"admin", "editor", "bot"},
    "GET /v1/assets": {"admin", "editor", "viewer"},
    "GET /v1/users/{user_id}": {"admin", "editor", "viewer"},
    "GET /v1/identities/{identity_type}/{value}": {"admin", "editor", "viewer"},
    "POST /v1/identities/lookup": {"admin", "editor", "viewer"},  # a read: the identity travels in the body
    # editors change the library, audiences, plans and experiments; viewers only read
    "POST /v1/assets": {"admin", "editor"},
    "POST /v1/assets/upload": {"admin", "editor"},
    "PATCH /v1/assets/{asset_id}": {"admin", "editor"},
    "POST /v1/assets/import": {"admin", "editor"},
    "PUT /v1/taxonomy/{facet}/{entry_id}": {"admin", "editor"},
    "PUT /v1/users": {"admin", "editor"},
    "PUT /v1/segments/{segment_id}": {"admin", "editor"},
    "POST /v1/plans": {"admin", "editor"},
    "PUT /v1/cadence-rules/{channel}": {"admin", "editor"},
    "POST /v1/experiments": {"admin", "editor"},
    "GET /v1/experiments/{key}/report": {"admin", "editor", "viewer"},
    "POST /library/upload": {"admin", "editor"},
    "GET /library": {"admin", "editor", "viewer"},
    "GET /calendar": {"admin", "editor", "bot", "viewer"},
    # admins only: erasure, keys, audit, platform caps
    "DELETE /v1/users/{user_id}": {"admin"},
    "GET /v1/keys": {"admin"},
    "POST /v1/keys": {"admin"},
    "POST /v1/keys/{key_id}/rotate": {"admin"},
    "POST /v1/keys/{key_id}/revoke": {"admin"},
    "GET /v1/audit": {"admin"},
    "GET /admin/audit": {"admin"},
    "GET /v1/admin/bad-records": {"admin"},
    "GET /admin/bad-records": {"admin"},
    "PUT /v1/caps/{channel}": {"admin"},
    "GET /v1/me": {"admin", "editor", "bot", "viewer"},
}


def _app() -> Any:
    import tempfile

    from contenthub.app import create_app
    from contenthub.config import Settings

    return create_app(
        Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="contenthub-routes-")), session_secret="r", journeys_loop_seconds=0
        )
    )


def _perm_of(route: Any) -> Perm | None:
    """The Perm captured by the route's ``require(perm)`` dependency (None: no permission dependency)."""
    found: list[Perm] = []

    def walk(dependant: Any) -> None:
        for sub in dependant.dependencies:
            call = sub.call
            if getattr(call, "__name__", "").startswith("require_"):
                found.append(inspect.getclosurevars(call).nonlocals["perm"])
            walk(sub)

    walk(route.dependant)
    if len(set(found)) > 1:
        raise AssertionError(f"{route.path} declares several permissions {found}; the table needs one")
    return found[0] if found else None


def routes(app: Any) -> Iterator[tuple[str, str, str, Perm | None]]:
    """(key 'METHOD /path', method, path, permission) for every route, mounts excluded."""
    for rc in iter_route_contexts(app.routes):
        if not isinstance(rc.original_route, APIRoute) and not hasattr(rc, "methods"):
            continue  # mounts (/static): files, no data
        methods = sorted(rc.methods or ())
        if not methods:
            continue
        perm = _perm_of(rc) if isinstance(rc.original_route, APIRoute) else None
        for method in methods:
            if method == "HEAD":
                continue
            yield f"{method} {rc.path}", method, rc.path, perm


def expected(key: str, perm: Perm | None) -> dict[str, bool]:
    if perm is None:
        if key in ANY_KEY:
            return {r: r != "none" for r in ROLES}
        return {r: True for r in ROLES}
    return {r: r != "none" and perm in MATRIX[Role(r)] for r in ROLES}


def derived_table(app: Any) -> dict[str, tuple[str, dict[str, bool]]]:
    table = {}
    for key, _, _, perm in routes(app):
        if perm is None and key not in PUBLIC:
            raise AssertionError(
                f"{key} has no permission dependency and is not in PUBLIC: add require(Perm.…) "
                "to the route, or list it in PUBLIC with the reason it is open"
            )
        table[key] = (
            "public" if perm is None and key not in ANY_KEY else "any key" if perm is None else perm.value,
            expected(key, perm),
        )
    return table


def render_markdown(table: dict[str, tuple[str, dict[str, bool]]]) -> str:
    lines = [
        "# Route × role matrix",
        "",
        "Generated by tests/test_role_matrix.py from each route's `require(Perm)` dependency and",
        "`contenthub/access/roles.py`; reviewed in git. ✓ allowed, ✗ refused (401 without a key, 403 with",
        "a key of the wrong role; pages redirect to /login without a session).",
        "",
        "| route | permission | admin | editor | bot | viewer | none |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(table, key=lambda k: (k.split(" ", 1)[1], k.split(" ", 1)[0])):
        perm, cells = table[key]
        lines.append(f"| `{key}` | {perm} | " + " | ".join("✓" if cells[r] else "✗" for r in ROLES) + " |")
    return "\n".join(lines) + "\n"


def parse_markdown(text: str) -> dict[str, tuple[str, dict[str, bool]]]:
    table = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0].strip("`")] = (cells[1], {r: c == "✓" for r, c in zip(ROLES, cells[2:], strict=True)})
    return table


@pytest.fixture(scope="module")
def app() -> Any:
    return _app()


def test_every_route_is_in_the_reviewed_table(app: Any) -> None:
    table = derived_table(app)
    if os.environ.get("CONTENTHUB_WRITE_ROLE_MATRIX"):
        TABLE.write_text(render_markdown(table))
    reviewed = parse_markdown(TABLE.read_text())
    missing = sorted(set(table) - set(reviewed))
    stale = sorted(set(reviewed) - set(table))
    changed = sorted(k for k in set(table) & set(reviewed) if table[k] != reviewed[k])
    assert not missing, (
        "routes missing from tests/data/role_matrix.md (decide who may call them, then "
        f"regenerate with CONTENTHUB_WRITE_ROLE_MATRIX=1 and review the diff): {missing}"
    )
    assert not stale, f"rows for routes that no longer exist: {stale}"
    assert not changed, f"permissions changed since the table was reviewed: {changed}"


def test_intent_for_key_routes(app: Any) -> None:
    table = derived_table(app)
    for key, allowed in INTENT.items():
        assert key in table, f"{key} is in INTENT but the app has no such route"
        got = {r for r, ok in table[key][1].items() if ok}
        assert got == allowed, f"{key}: allowed {sorted(got)}, intended {sorted(allowed)}"


def _fill(path: str) -> str:
    out = path
    for name in ("week",):
        out = out.replace("{" + name + "}", "2030-01-07")
    while "{" in out:
        start = out.index("{")
        out = out[:start] + "zz-missing" + out[out.index("}", start) + 1 :]
    return out


def _refused(method: str, path: str, response: Any) -> bool:
    if response.status_code == 401:
        return True
    if response.status_code == 303 and response.headers.get("location", "").startswith("/login"):
        return True
    if response.status_code == 403:
        return "may not do this" in response.text  # the role check, not a CSRF refusal
    return False


def test_every_route_for_every_role_over_http(clients: Any) -> None:
    app = clients.app
    table = derived_table(app)
    http = {role: clients.as_(role) for role in ROLES if role != "none"}
    http["none"] = TestClient(app)
    wrong = []
    checked = 0
    for key, method, path, _ in routes(app):
        if key in ("GET /docs", "GET /redoc", "GET /docs/oauth2-redirect", "GET /openapi.json"):
            continue
        url = _fill(path)
        for role in ROLES:
            kwargs: dict[str, Any] = {"follow_redirects": False}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["content"] = b"{}"  # invalid for every write: an allowed call stops at validation
                kwargs["headers"] = {"content-type": "application/json"}
            response = http[role].request(method, url, **kwargs)
            checked += 1
            allowed = table[key][1][role]
            if _refused(method, path, response) == allowed:
                wrong.append(
                    f"{key} as {role}: {response.status_code} (expected {'allowed' if allowed else 'refused'})"
                )
    assert checked >= 5 * 100
    assert not wrong, "\n".join(wrong)


def test_every_page_form_checks_csrf(clients: Any) -> None:
    """Every form route (POST outside /v1) refuses a logged-in session whose form lacks the CSRF token:
    the session cookie alone — which a forged cross-site form would carry — is never enough."""
    from tests.test_pages import login

    session = login(clients, "admin")
    forms = [
        (key, path) for key, method, path, _ in routes(clients.app) if method == "POST" and not path.startswith("/v1/")
    ]
    assert len(forms) >= 15
    wrong = []
    for key, path in forms:
        route = next(
            rc
            for rc in iter_route_contexts(clients.app.routes)
            if getattr(rc, "path", None) == path and "POST" in (rc.methods or ())
        )
        data = {p.alias: "1" for p in route.dependant.body_params if p.field_info.is_required() and p.alias != "file"}
        files = (
            {"file": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")}
            if any(p.alias == "file" for p in route.dependant.body_params)
            else None
        )
        for token in (None, "forged"):
            form = {**data, **({"csrf_token": token} if token else {})}
            r = session.post(_fill(path), data=form, files=files, follow_redirects=False)
            if r.status_code != 403 or "不是来自本站" not in r.text:  # the console's page, in Chinese
                wrong.append(f"{key} with csrf_token={token!r}: {r.status_code} {r.text[:120]!r}")
    assert not wrong, "\n".join(wrong)
