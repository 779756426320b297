"""Schemathesis fuzzes every operation of the OpenAPI schema with an admin key.

Two promises hold for any input, valid or not: the server never answers 5xx, and every 4xx says what
was wrong (a JSON body with ``error.message``). Bounded so the whole run stays under ~3 minutes on two
cores: a handful of generated cases per operation plus schemathesis' boundary-value ("coverage") cases,
derandomized so a failure reproduces. A summary (operations, cases, status classes, failures) is written
to ``$CONTENTHUB_FUZZ_SUMMARY`` when set, for the reliability report.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from contenthub.access import keys
from contenthub.app import create_app
from contenthub.hub import Hub
from tests.helpers import asset

MAX_EXAMPLES = int(os.environ.get("CONTENTHUB_FUZZ_EXAMPLES", "6"))
COVERAGE_MODE = os.environ.get("CONTENTHUB_FUZZ_COVERAGE", "all")
STATS: dict[str, Any] = {"operations": set(), "cases": 0, "status": Counter(), "failures": [], "per_operation": {}}


def _seed(hub: Hub, admin: Any) -> None:
    """A little of everything, so ids the fuzzer reuses from examples or earlier responses exist."""
    for i in range(3):
        r = admin.post("/v1/assets", json=asset(f"护眼科普 {i}", id=f"fz{i}"))
        assert r.status_code == 201, r.text
    admin.put("/v1/users", json={"id": "u1", "identities": [{"type": "openid", "value": "o-1"}]})
    admin.put("/v1/groups", json={"id": "g1", "name": "福利群"})
    admin.post("/v1/groups/g1/members", json={"join": ["u1"]})
    admin.put("/v1/segments/s1", json={"name": "活跃", "all": [{"field": "stage", "op": "eq", "value": "active"}]})
    admin.post(
        "/v1/events",
        json={"events": [{"id": "e1", "type": "click", "user_id": "u1", "asset_id": "fz0", "channel": "moments"}]},
    )


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[tuple[Any, str]]:
    from fastapi.testclient import TestClient

    from contenthub.config import Settings
    from contenthub.hub import open_hub
    from tests.conftest import _model_dir

    data = tmp_path_factory.mktemp("fuzz") / "data"
    hub = open_hub(
        Settings(
            data_dir=data,
            model_path=_model_dir(),
            session_secret="fuzz",
            journeys_loop_seconds=0,
            max_upload_bytes=256 * 1024,
            max_request_bytes=1024 * 1024,
        ),
        embedder=embedder,
    )
    app = create_app(hub.settings, hub)
    _, key = keys.create_key(hub.store, "admin", "fuzzer")
    admin = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    _seed(hub, admin)
    yield app, key
    hub.close()
    out = os.environ.get("CONTENTHUB_FUZZ_SUMMARY")
    if out:
        summary = {
            "operations": len(STATS["operations"]),
            "cases": STATS["cases"],
            "status_classes": dict(sorted(STATS["status"].items())),
            "failures": len(STATS["failures"]),
            "max_examples_per_operation": MAX_EXAMPLES,
            "slowest": sorted(
                ([op, n, round(t, 2)] for op, (n, t) in STATS["per_operation"].items()), key=lambda x: -x[2]
            )[:15],
        }
        with open(out, "w") as fh:
            json.dump(summary, fh, indent=2)


def _openapi() -> dict[str, Any]:
    """The schema of the real app, built once at import on a throwaway data dir (no model load)."""
    import shutil
    import tempfile
    from pathlib import Path

    from contenthub.config import Settings

    tmp = Path(tempfile.mkdtemp(prefix="contenthub-openapi-"))
    try:
        app = create_app(Settings(data_dir=tmp, session_secret="schema", journeys_loop_seconds=0))
        doc = app.openapi()
        app.state.hub.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return doc


CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True, "unexpected-methods": [], "generation": {"mode": COVERAGE_MODE}},
            "fuzzing": {"enabled": True, "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"}},
            "stateful": {"enabled": False},
        },
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
    }
)
OPENAPI = _openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


def _record_and_check(stats: dict[str, Any], case: Any, response: Any) -> None:
    """Count the case in ``stats`` and fail on a 5xx or on a 4xx whose body does not explain itself."""
    stats["operations"].add(f"{case.method} {case.path}")
    stats["cases"] += 1
    stats["status"][f"{response.status_code // 100}xx"] += 1
    problem = None
    if response.status_code >= 500:
        problem = f"{response.status_code}: {response.text[:300]}"
    elif 400 <= response.status_code < 500:
        problem = _explains_itself(response)
    if problem:
        stats["failures"].append(f"{case.method} {case.path}: {problem}")
        raise AssertionError(f"{case.method} {case.formatted_path}: {problem}\nreproduce: {case.as_curl_command()}")


def _explains_itself(response: Any) -> str | None:
    """None when a 4xx body is JSON with a non-empty error.message; else what is wrong."""
    try:
        body = response.json()
    except ValueError:
        return f"4xx body is not JSON: {response.text[:200]!r}"
    message = (
        body.get("error", {}).get("message") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
    )
    if not isinstance(message, str) or not message.strip():
        return f"4xx body has no error.message: {str(body)[:200]}"
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_no_5xx_and_every_4xx_explains_itself(case: Any, fuzz_app: tuple[Any, str]) -> None:
    app, key = fuzz_app
    started = time.perf_counter()
    response = case.call(app=app, headers={"Authorization": f"Bearer {key}"})
    per_op = STATS["per_operation"].setdefault(f"{case.method} {case.path}", [0, 0.0])
    per_op[0] += 1
    per_op[1] += time.perf_counter() - started
    _record_and_check(STATS, case, response)


# ---- hostile values (issue #26): inputs just outside what the schema-driven generator makes -------------------------

HOSTILE_EXAMPLES = int(os.environ.get("CONTENTHUB_FUZZ_HOSTILE_EXAMPLES", "4"))
HOSTILE_STATS: dict[str, Any] = {"operations": set(), "cases": 0, "status": Counter(), "failures": []}


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


hostile_values = st.one_of(
    # dates across years 1–9999, naive and with offsets up to ±14 h
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.none()
        | st.sampled_from(
            [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(minutes=30))]
        ),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0999-06-01T00:00:00Z",
            "9999-12-31T23:59:59.999999-12:00",
            "1-01-01T00:00:00.000000Z",
            "0000-00-00",
        ]
    ),
    # NUL and other control characters inside otherwise ordinary text
    st.text(st.characters(codec="utf-8", categories=["Cc"]) | st.sampled_from("ab护眼 "), min_size=1, max_size=12),
    # ids and values with separators
    st.sampled_from(["../../etc/passwd", "a/b?c#d", "..", ".", "%2F..%2F", "a\\b", "a..b", "/", "#", "?x=1"]),
    # huge numbers
    st.sampled_from([1e308, -1e308, 2**63, -(2**63) - 1, 10**30, 5e-324]),
    # deep nesting, just past the limit and far past it
    st.sampled_from([_nested(65), _nested(1000)]),
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    out = list(value)
    out[head] = _replace(out[head], rest, new)
    return out


HOSTILE_CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": True, "generation": {"max-examples": HOSTILE_EXAMPLES, "mode": "positive"}},
            "stateful": {"enabled": False},
        },
        "generation": {"max-examples": HOSTILE_EXAMPLES, "mode": "positive"},
    }
)
hostile_schema = schemathesis.openapi.from_dict(OPENAPI, config=HOSTILE_CONFIG)


@hostile_schema.parametrize()
@hostile_schema.given(data=st.data())
@settings(
    max_examples=HOSTILE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_hostile_values_never_5xx(case: Any, data: Any, fuzz_app: tuple[Any, str]) -> None:
    """Each generated case gets up to three of its values (body leaves, query or path parameters) replaced
    by a hostile one; the server may refuse, never fail."""
    app, key = fuzz_app
    for _ in range(data.draw(st.integers(1, 3), label="replacements")):
        slots: list[tuple[str, Any]] = []
        if case.media_type == "application/json" and case.body is not None and not isinstance(case.body, (str, bytes)):
            slots += [("body", p) for p in _leaves(case.body)]
        slots += [("query", k) for k in (case.query or {})]
        slots += [("path", k) for k in (case.path_parameters or {})]
        if not slots:
            break
        where, at = data.draw(st.sampled_from(slots), label="where")
        value = data.draw(hostile_values, label="value")
        if where == "body":
            case.body = _replace(case.body, at, value)
        elif where == "query":
            case.query = {**case.query, at: value if isinstance(value, str) else json.dumps(value)}
        else:
            case.path_parameters = {**case.path_parameters, at: value if isinstance(value, str) else json.dumps(value)}
    response = case.call(app=app, headers={"Authorization": f"Bearer {key}"})
    _record_and_check(HOSTILE_STATS, case, response)
    out = os.environ.get("CONTENTHUB_FUZZ_HOSTILE_SUMMARY")
    if out:
        with open(out, "w") as fh:
            json.dump(
                {
                    "operations": len(HOSTILE_STATS["operations"]),
                    "cases": HOSTILE_STATS["cases"],
                    "status_classes": dict(sorted(HOSTILE_STATS["status"].items())),
                    "failures": len(HOSTILE_STATS["failures"]),
                    "max_examples_per_operation": HOSTILE_EXAMPLES,
                },
                fh,
                indent=2,
            )
