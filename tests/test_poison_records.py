"""Poison records (issue #26): a value the API accepts, once stored, never breaks a read.

For every writable field of the main write endpoints (assets, users, events, groups and their members,
segments, strategies, caps, cadence rules, experiments, journeys) the test tries edge values built from the
field's own JSON schema in the OpenAPI document — dates at both ends of the accepted range and in extreme
offsets, control characters, path separators, longest strings, largest numbers, empty and odd collections.
Every value the API accepts is written (each into a record of its own where the endpoint creates records);
then every GET route of the app — the OpenAPI's and the console pages — is called with its path parameters
filled from the stored ids, and none may answer 5xx.

The figure the issue asks for, fields × read routes, is printed and written to
``$CONTENTHUB_POISON_SUMMARY`` when set.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from contenthub.publish.rules import CadenceRule
from contenthub.recommend.models import EventIn
from tests.conftest import Clients

WEEK = "2030-01-07"
TOTALS: dict[str, Any] = {
    "fields": 0,
    "accepted_values": 0,
    "read_routes": 0,
    "field_x_route": 0,
    "requests": 0,
    "groups": {},
}

STRINGS = [
    "a\x00b",
    "\x01\x1f\x7f",
    "../../etc/passwd",
    "a/b?c#d",
    "<script>x</script>'\"",
    "\u202e\u200b",
    "🎉" * 30,
    "  ",
    "%00%2e%2e",
]
DATES = [
    "0001-01-01T00:00:00Z",
    "0999-06-01T00:00:00Z",
    "1900-01-01T00:00:00Z",
    "1900-01-01T00:00:00+14:00",
    "9998-12-31T23:59:59Z",
    "9998-12-31T23:59:59-12:00",
    "9998-12-31T10:00:00+14:00",
    "2026-02-28T23:59:59.999999-00:30",
    "1970-01-01T00:00:00",
]


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _alternatives(node: dict[str, Any], defs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    node = _resolve(node, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            for sub in node[key]:
                yield from _alternatives(sub, defs)
            return
    yield node


def edge_values(node: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> list[Any]:
    """Values at the edges of what the schema allows (and just past them: the API decides)."""
    out: list[Any] = []
    for alt in _alternatives(node, defs):
        kind = alt.get("type")
        if "enum" in alt:
            out += list(alt["enum"])
        elif "const" in alt:
            out.append(alt["const"])
        elif kind == "string" and alt.get("format") in ("date-time", "date"):
            out += DATES if alt["format"] == "date-time" else [d[:10] for d in DATES[::2]]
        elif kind == "string":
            longest = alt.get("maxLength", 300)
            out += STRINGS + ["x" * longest, "字" * longest, ""]
        elif kind == "integer":
            out += [alt.get("minimum", -(2**63)), alt.get("maximum", 2**63), 0, -1, 10**18]
        elif kind == "number":
            out += [alt.get("minimum", -1e308), alt.get("maximum", 1e308), 1e-300, 0.0, -1e9]
        elif kind == "boolean":
            out += [True, False]
        elif kind == "null":
            out.append(None)
        elif kind == "array":
            items = alt.get("items") or {}
            inner = edge_values(items, defs, depth + 1) if depth < 2 else []
            out += [[]] + ([inner[: alt.get("maxItems", 5)]] if inner else []) + [[v] for v in inner[:6]]
        elif kind == "object" or "properties" in alt or "additionalProperties" in alt:
            out += [{}, {"k\x00": "v\x00", "../x": 1e300, "nest": [[[[["deep"]]]]]}]
    return out


class Poisoner:
    """Writes edge values field by field through one endpoint; remembers which fields took at least one."""

    def __init__(self, clients: Clients, name: str) -> None:
        self.admin = clients.as_("admin")
        self.name = name
        self.fields: set[str] = set()
        self.ids: dict[str, list[str]] = {}
        self.accepted = 0
        self.n = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"  # unique per group: the groups share one hub

    def run(
        self, schema: dict[str, Any], defs: dict[str, Any], send: Callable[[str, Any], Any], skip: tuple[str, ...] = ()
    ) -> None:
        for field, prop in (schema.get("properties") or {}).items():
            if field in skip:
                continue
            for value in edge_values(prop, defs):
                r = send(field, value)
                assert r.status_code < 500, (self.name, field, repr(value)[:80], r.status_code, r.text[:300])
                if r.status_code < 300:
                    self.fields.add(field)
                    self.accepted += 1


def _openapi_defs(clients: Clients) -> dict[str, Any]:
    return clients.app.openapi()["components"]["schemas"]


def _body_schema(clients: Clients, method: str, path: str) -> dict[str, Any]:
    op = clients.app.openapi()["paths"][path][method]
    ref = op["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(ref, _openapi_defs(clients))


def _login(clients: Clients) -> TestClient:
    web = TestClient(clients.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)  # type: ignore[union-attr]
    assert (
        web.post("/login", data={"key": clients.keys["admin"], "csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    return web


def _seed(clients: Clients) -> str:
    admin = clients.as_("admin")
    r = admin.post(
        "/v1/assets",
        json={
            "title": "基础素材",
            "status": "approved",
            "channels": ["wecom_1v1"],
            "scenes": ["education"],
            "id": "base-asset",
        },
    )
    assert r.status_code == 201, r.text
    admin.put("/v1/users", json={"id": "base-user", "identities": [{"type": "openid", "value": "o-base"}]})
    admin.put("/v1/groups", json={"id": "base-group"})
    admin.post("/v1/groups/base-group/members", json={"join": ["base-user"]})
    return "base-asset"


# ---- the writes, one group per endpoint ---------------------------------------------------------------------------


def poison_assets(clients: Clients, p: Poisoner) -> None:
    schema = _body_schema(clients, "post", "/v1/assets")
    base = {"title": "毒素材", "status": "approved", "channels": ["wecom_1v1"], "scenes": ["education"]}

    def send(field: str, value: Any) -> Any:
        aid = p.fresh("pa")
        r = p.admin.post("/v1/assets", json={**base, field: value, "id": aid})
        if r.status_code == 201:
            p.ids.setdefault("asset_id", []).append(r.json()["id"])
        return r

    p.run(schema, _openapi_defs(clients), send, skip=("id",))


def _poison_put(clients: Clients, p: Poisoner, path: str, prefix: str, id_key: str) -> None:
    """One poisoned field per PUT of a fresh record at ``path`` (users, groups); stored ids go to ``id_key``."""

    def send(field: str, value: Any) -> Any:
        record_id = p.fresh(prefix)
        r = p.admin.put(path, json={"id": record_id, field: value} if field != "id" else {"id": value})
        if r.status_code == 200:
            p.ids.setdefault(id_key, []).append(r.json()["id"])
        return r

    p.run(_body_schema(clients, "put", path), _openapi_defs(clients), send)


def poison_users(clients: Clients, p: Poisoner) -> None:
    _poison_put(clients, p, "/v1/users", "pu", "user_id")


def poison_events(clients: Clients, p: Poisoner) -> None:
    schema = EventIn.model_json_schema()

    def send(field: str, value: Any) -> Any:
        uid = p.fresh("pe")
        event = {
            "id": f"ev-{uid}",
            "type": "click",
            "user_id": uid,
            "asset_id": "base-asset",
            "channel": "wecom_1v1",
            field: value,
        }
        r = p.admin.post("/v1/events", json={"events": [event]})
        if r.status_code == 200:
            p.ids.setdefault("user_id", []).append(event["user_id"] if isinstance(event["user_id"], str) else uid)
        return r

    p.run(schema, schema.get("$defs", {}), send)


def poison_groups(clients: Clients, p: Poisoner) -> None:
    _poison_put(clients, p, "/v1/groups", "pg", "group_id")

    def send_members(field: str, value: Any) -> Any:
        gid = p.fresh("pgm")
        p.admin.put("/v1/groups", json={"id": gid})
        r = p.admin.post(f"/v1/groups/{gid}/members", json={"join": ["base-user"], field: value})
        if r.status_code == 200:
            p.ids.setdefault("group_id", []).append(gid)
        return r

    p.run(_body_schema(clients, "post", "/v1/groups/{group_id}/members"), _openapi_defs(clients), send_members)


def poison_segments(clients: Clients, p: Poisoner) -> None:
    def send(field: str, value: Any) -> Any:
        sid = p.fresh("ps")
        r = p.admin.put(f"/v1/segments/{sid}", json={"name": "毒", field: value})
        if r.status_code == 200:
            p.ids.setdefault("segment_id", []).append(sid)
        return r

    p.run(_body_schema(clients, "put", "/v1/segments/{segment_id}"), _openapi_defs(clients), send)


def poison_strategies(clients: Clients, p: Poisoner) -> None:
    def send(field: str, value: Any) -> Any:
        sid = p.fresh("pst")
        body = {"id": sid, "weights": {"similarity": 1.0}, field: value} if field != "id" else {"id": value}
        r = p.admin.put(f"/v1/strategies/{sid}", json=body)
        if r.status_code == 200:
            p.ids.setdefault("strategy", []).append(sid)
        return r

    p.run(_body_schema(clients, "put", "/v1/strategies/{strategy_id}"), _openapi_defs(clients), send)
    for signal in ("similarity", "freshness", "quality", "popularity"):  # each weight at its bounds
        for w in (100.0, -100.0):
            sid = p.fresh("pst")
            assert p.admin.put(f"/v1/strategies/{sid}", json={"id": sid, "weights": {signal: w}}).status_code == 200
            p.ids.setdefault("strategy", []).append(sid)


def poison_caps(clients: Clients, p: Poisoner) -> None:
    channels = [c["id"] for c in p.admin.get("/v1/taxonomy/channels").json()]

    def send(field: str, value: Any) -> Any:
        channel = channels[p.n % len(channels)]
        p.n += 1
        body = {"channel": channel, field: value} if field != "channel" else {"channel": value}
        return p.admin.put(f"/v1/caps/{channel}", json=body)

    p.run(_body_schema(clients, "put", "/v1/caps/{channel}"), _openapi_defs(clients), send)


def poison_cadence(clients: Clients, p: Poisoner) -> None:
    channels = [c["id"] for c in p.admin.get("/v1/taxonomy/channels").json()]

    def send(field: str, value: Any) -> Any:
        channel = channels[p.n % len(channels)]
        p.n += 1
        base = {k: v for k, v in p.admin.get(f"/v1/cadence-rules/{channel}").json().items() if k != "source"}
        return p.admin.put(f"/v1/cadence-rules/{channel}", json={**base, field: value})

    schema = CadenceRule.model_json_schema()  # the route takes a free-form body and validates it as this
    p.run(schema, schema.get("$defs", {}), send, skip=("channel",))


def poison_experiments(clients: Clients, p: Poisoner) -> None:
    def send(field: str, value: Any) -> Any:
        key = p.fresh("px")
        body = {
            "key": key,
            "name": "毒",
            "unit": "user",
            "change": "strategy",
            "primary_metric": "ctr",
            "variants": [
                {"name": "control", "weight": 0.5, "strategy": "default"},
                {"name": "B", "weight": 0.5, "strategy": "popular"},
            ],
            field: value,
        }
        if field == "key":
            body["key"] = value
        r = p.admin.post("/v1/experiments", json=body)
        if r.status_code in (200, 201):
            ekey = r.json()["key"]
            p.ids.setdefault("key", []).append(ekey)
            p.admin.post(f"/v1/experiments/{ekey}/start")
        return r

    p.run(_body_schema(clients, "post", "/v1/experiments"), _openapi_defs(clients), send)


def poison_journeys(clients: Clients, p: Poisoner) -> None:
    template = p.admin.get("/v1/journeys/templates").json()
    base = next(iter(template.values()))

    def send(field: str, value: Any) -> Any:
        jid = p.fresh("pj")
        body = {**base, "id": jid, "status": "active", field: value}
        r = p.admin.post("/v1/journeys", json=body)
        if r.status_code in (200, 201):
            created = r.json()["id"]
            p.ids.setdefault("journey_id", []).append(created)
            p.admin.post(f"/v1/journeys/{created}/enroll", json={"user_ids": ["base-user"]})
        return r

    p.run(_body_schema(clients, "post", "/v1/journeys"), _openapi_defs(clients), send)


GROUPS: dict[str, Callable[[Clients, Poisoner], None]] = {
    "assets": poison_assets,
    "users": poison_users,
    "events": poison_events,
    "groups": poison_groups,
    "segments": poison_segments,
    "strategies": poison_strategies,
    "caps": poison_caps,
    "cadence_rules": poison_cadence,
    "experiments": poison_experiments,
    "journeys": poison_journeys,
}


# ---- the reads ------------------------------------------------------------------------------------------------------


DEFAULTS = {
    "asset_id": ["base-asset"],
    "user_id": ["base-user"],
    "group_id": ["base-group"],
    "segment_id": ["none"],
    "key": ["none"],
    "journey_id": ["none"],
    "channel": ["wecom_1v1"],
    "week": [WEEK],
    "facet": ["scenes"],
    "identity_type": ["openid"],
    "value": ["o-base"],
    "slot_id": ["none"],
    "strategy": ["default"],
}
QUERY = {"channel": "wecom_1v1", "week": WEEK}


def read_routes(clients: Clients) -> list[APIRoute]:
    return [
        r
        for r in clients.app.routes
        if isinstance(r, APIRoute) and "GET" in r.methods and not r.path.startswith(("/docs", "/redoc", "/openapi"))
    ]


def _calls(route: APIRoute, ids: dict[str, list[str]]) -> Iterator[tuple[str, dict[str, str]]]:
    names = re.findall(r"{(\w+)}", route.path)
    params = {p.name for p in route.dependant.query_params}
    query = {k: v for k, v in QUERY.items() if k in params}
    strategies = ids.get("strategy", [])[:12] if "strategy" in params else []
    choices = [ids.get(n) or DEFAULTS.get(n, ["x"]) for n in names]
    combos: list[dict[str, str]] = [{}]
    for name, values in zip(names, choices, strict=True):
        combos = [{**c, name: v} for c in combos for v in values[:40]]
    for combo in combos:
        path = route.path
        for name, value in combo.items():
            path = path.replace("{" + name + "}", value.replace("/", "%2F"))
        yield path, query
        for s in strategies:
            yield path, {**query, "strategy": s}


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Clients]:
    """One hub for every group, in order: each group's reads also meet every earlier group's records."""
    from contenthub.config import Settings
    from contenthub.hub import open_hub
    from tests.conftest import _model_dir

    hub = open_hub(
        Settings(
            data_dir=tmp_path_factory.mktemp("poison") / "data",
            model_path=_model_dir(),
            session_secret="poison",
            journeys_loop_seconds=0,
        ),
        embedder=embedder,
    )
    made = Clients(hub)
    _seed(made)
    yield made
    hub.close()


@pytest.mark.parametrize("group", list(GROUPS))
def test_stored_edge_values_never_break_a_read(clients: Clients, group: str) -> None:
    poisoner = Poisoner(clients, group)
    GROUPS[group](clients, poisoner)
    assert poisoner.fields, f"{group}: no edge value was accepted for any field"
    api, web = clients.as_("admin"), _login(clients)
    routes = read_routes(clients)
    broken = []
    requests = 0
    for route in routes:
        client = api if route.path.startswith("/v1/") else web
        for path, query in _calls(route, poisoner.ids):
            r = client.get(path, params=query, follow_redirects=False)
            requests += 1
            if r.status_code >= 500:
                broken.append(f"GET {path} {query}: {r.status_code} {r.text[:200]}")
    assert not broken, f"{group}: reads broken by stored edge values:\n" + "\n".join(broken[:20])
    TOTALS["fields"] += len(poisoner.fields)
    TOTALS["accepted_values"] += poisoner.accepted
    TOTALS["read_routes"] = len(routes)
    TOTALS["field_x_route"] += len(poisoner.fields) * len(routes)
    TOTALS["requests"] += requests
    TOTALS["groups"][group] = {
        "fields": sorted(poisoner.fields),
        "accepted_values": poisoner.accepted,
        "read_requests": requests,
    }
    print(
        f"\npoison {group}: {len(poisoner.fields)} fields × {len(routes)} read routes, "
        f"{poisoner.accepted} accepted values, {requests} read requests"
    )
    out = os.environ.get("CONTENTHUB_POISON_SUMMARY")
    if out:
        with open(out, "w") as fh:
            json.dump(TOTALS, fh, indent=2, ensure_ascii=False)
