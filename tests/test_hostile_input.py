"""Hostile input: every parser either accepts or explains (never crashes), uploads are typed by their bytes,
oversized and malformed bodies are refused cleanly, and unicode edge cases survive or are refused by name.

Parsers under hypothesis: JSON-lines import (``parse_jsonl`` and the import endpoint), rule definitions
(cadence rules, segment rules, cap rules, journey definitions), time zones (rules, caps, journey waits) and
query strings (search, filters, pages). "Explains" means a pydantic ValidationError / domain ProblemError
in-process, and a 4xx JSON body with ``error.message`` over HTTP.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contenthub.errors import ProblemError
from contenthub.library.service import parse_jsonl
from tests.helpers import ELF_BYTES, png_bytes

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HTTP_FUZZ = settings(FUZZ, max_examples=30)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
weird_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u200b",
        "\u202e",
        "'",
        '"',
        "\\",
        "%",
        "_",
        "*",
        '"护眼"',
        "NEAR(a b)",
        "a OR b",
        "-x",
        "护眼 OR 1=1",
        "'; DROP TABLE assets; --",
        "x" * 600,
        "🎉" * 100,
        "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    ]
)


def explains(response: Any) -> None:
    """No 5xx, and a 4xx says what was wrong."""
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        error = response.json().get("error") or {}
        assert isinstance(error.get("message"), str) and error["message"], response.text[:300]


def in_process(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a parser: a value, or a ValidationError/ProblemError — any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except (ValidationError, ProblemError):
        return None


# ---- JSON lines --------------------------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.binary(max_size=80) | st.text(max_size=80) | json_values.map(lambda v: json.dumps(v)), max_size=12))
@example([b'\xef\xbb\xbf{"title": "BOM"}', b"\xff\xfe\x00", '{"a": NaN}', "[1,2]", "   ", "{", '"x"'])
def test_parse_jsonl_never_raises(lines: list[Any]) -> None:
    seen = []
    for no, obj, err in parse_jsonl(lines):
        assert 1 <= no <= len(lines) and (obj is None) != (err is None)
        assert obj is None or isinstance(obj, dict)
        seen.append(no)
    assert seen == sorted(set(seen))


asset_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=70) | st.integers() | st.none(),
        "title": weird_text,
        "body": weird_text,
        "kind": st.sampled_from(["article", "poster", "nope", ""]) | json_values,
        "scenes": st.lists(st.sampled_from(["education", "tutorial", "bad"]) | st.text(max_size=5), max_size=3)
        | json_values,
        "tags": st.lists(weird_text, max_size=5) | json_values,
        "status": st.sampled_from(["draft", "approved", "x"]),
        "valid_from": st.sampled_from(
            [
                "2030-01-01T00:00:00",
                "2030-01-02T00:00:00+08:00",
                "9999-12-31T23:59:59-12:00",
                "0001-01-01T00:00:00+14:00",
                "yesterday",
            ]
        ),
        "valid_until": st.sampled_from(["2030-01-01T00:00:00Z", "2031-01-01", "0001-01-01T00:00:00+14:00"]),
        "url": st.sampled_from(["https://example.com", "javascript:alert(1)", "", "ftp://x"]) | weird_text,
    },
)


@HTTP_FUZZ
@given(st.lists(asset_like.map(lambda d: json.dumps(d, ensure_ascii=False)) | st.text(max_size=40), max_size=6))
def test_import_endpoint_accepts_or_explains_every_line(clients: Any, lines: list[str]) -> None:
    editor = clients.as_("editor")
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    r = editor.post("/v1/assets/import", content=body, headers={"content-type": "application/x-ndjson"})
    explains(r)
    if r.status_code in (200, 422) and "imported" in r.json():
        report = r.json()
        non_blank = sum(1 for line in body.splitlines() if line.strip().lstrip(b"\xef\xbb\xbf").strip())
        assert report["imported"] + report["skipped"] + len(report["errors"]) == non_blank


# ---- rule definitions -------------------------------------------------------------------------------------------

zone_names = (
    st.sampled_from(sorted(available_timezones()))
    | st.sampled_from(
        [
            "Asia",
            "America",
            "x" * 300,
            "../etc/passwd",
            "/etc/localtime",
            "Asia/Shanghai/",
            "posixrules",
            "zone.tab",
            "tzdata.zi",
            "leapseconds",
            "",
            "UTC ",
            "\x00",
            "Etc/GMT+14",
            "Factory",
            "asia/shanghai",
        ]
    )
    | st.text(max_size=20)
)

cadence_like = st.fixed_dictionaries(
    {},
    optional={
        "allowed_weekdays": st.lists(st.integers(-2, 9), max_size=8) | json_values,
        "windows": st.lists(st.tuples(st.integers(-2, 26), st.integers(-2, 26)), max_size=3) | json_values,
        "max_per_day": st.integers(-1, 5) | json_values,
        "max_per_week": st.integers(-1, 20) | st.none(),
        "max_per_month": st.integers(-1, 40) | st.just("days_in_month") | json_values,
        "min_per_week": st.integers(-1, 20),
        "target_per_week": st.integers(-1, 30) | st.none(),
        "min_gap_minutes": st.integers(-1, 20000) | json_values,
        "mix": st.dictionaries(
            st.sampled_from(["educational", "promotional", "entertainment", "nope"]),
            st.tuples(st.integers(-1, 5), st.integers(-1, 5)),
            max_size=3,
        )
        | json_values,
        "blackout_dates": st.lists(st.dates().map(str) | st.text(max_size=10), max_size=3),
        "timezone": zone_names,
        "holiday_boost": st.integers(-1, 5),
        "cap_scope": st.sampled_from(["audience", "channel", "x"]),
        "extra_field": json_values,
    },
)


@FUZZ
@given(cadence_like, st.sampled_from(["wecom_1v1", "mp_service", "sms", "nope"]))
@example({"timezone": "Asia"}, "wecom_1v1")
@example({"timezone": "x" * 300}, "wecom_1v1")
def test_cadence_rules_validate_or_explain(body: dict[str, Any], channel: str) -> None:
    from contenthub.publish.rules import CadenceRule

    rule = in_process(CadenceRule.model_validate, {**body, "channel": channel})
    if rule is not None:
        assert ZoneInfo(rule.timezone) is not None and rule.week_capacity() >= 0


@HTTP_FUZZ
@given(cadence_like)
@example({"timezone": "Asia"})
def test_cadence_rule_endpoint_explains(clients: Any, body: dict[str, Any]) -> None:
    r = clients.as_("editor").put("/v1/cadence-rules/wecom_1v1", json=body)
    explains(r)


condition_like = st.fixed_dictionaries(
    {
        "field": st.sampled_from(
            [
                "stage",
                "tier",
                "paying",
                "region",
                "group",
                "attr.vip",
                "tag:护眼",
                "scene:education",
                "type:educational",
                "nope",
            ]
        ),
        "op": st.sampled_from(["eq", "ne", "in", "gte", "lte", "exists", "like"]),
    },
    optional={"value": json_values},
)
user_like = st.fixed_dictionaries(
    {"id": st.just("u1")},
    optional={
        "region": json_values,
        "member_level": json_values,
        "source_channel": json_values,
        "attributes": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    },
)
facts_like = st.fixed_dictionaries(
    {
        "status": st.dictionaries(st.sampled_from(["stage", "tier", "paying"]), json_values, max_size=3),
        "weights": st.dictionaries(
            st.sampled_from(["t:护眼", "s:education", "c:educational"]), st.floats(-5, 5), max_size=3
        ),
        "groups": st.lists(st.text(max_size=4), max_size=3),
    }
)


@FUZZ
@given(st.lists(condition_like, max_size=3), st.lists(condition_like, max_size=3), user_like, facts_like)
@example(
    [{"field": "region", "op": "in", "value": 5}],
    [],
    {"id": "u1", "region": "上海"},
    {"status": {}, "weights": {}, "groups": []},
)
@example([{"field": "group", "op": "in", "value": 5}], [], {"id": "u1"}, {"status": {}, "weights": {}, "groups": ["g"]})
def test_segment_rules_validate_then_always_evaluate(
    all_: list[Any], any_: list[Any], user: dict[str, Any], facts: dict[str, Any]
) -> None:
    """A segment that saves can always be evaluated, against any user: bad rules fail when saved, not when
    every later count, listing or plan uses them."""
    from contenthub.audience.segments import Segment, matches

    seg = in_process(Segment.model_validate, {"id": "s", "name": "s", "all": all_, "any": any_})
    if seg is not None:
        assert matches(seg, user, facts) in (True, False)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"channel": st.sampled_from(["wecom_1v1", "moments"])},
        optional={
            "per_day": st.integers(-2, 5) | json_values,
            "per_week": st.integers(-2, 40) | st.none(),
            "per_month": st.integers(-2, 40) | json_values,
            "note": json_values,
        },
    ),
    st.lists(st.datetimes(datetime(2029, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC)), max_size=6),
    st.datetimes(datetime(2029, 6, 1), datetime(2030, 6, 1), timezones=st.just(UTC)),
    zone_names,
)
def test_cap_rules_validate_then_always_evaluate(
    body: dict[str, Any], sent: list[datetime], now: datetime, tz: str
) -> None:
    from types import SimpleNamespace

    from contenthub.audience.caps import CapRule, cap_status
    from contenthub.timeutil import to_iso

    rule = in_process(CapRule.model_validate, body)
    if rule is None:
        return
    hub = SimpleNamespace(settings=SimpleNamespace(timezone=tz))
    result = in_process(cap_status, hub, rule, [to_iso(t) for t in sent], now)
    if result is not None:
        capped, reason, reopen = result
        assert capped == (reason is not None) and (not capped or reopen > now)


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "name": weird_text,
            "trigger": json_values | st.just({"kind": "user_created"}),
            "steps": st.lists(
                st.fixed_dictionaries(
                    {"id": st.text(max_size=8)},
                    optional={
                        "name": weird_text,
                        "wait": json_values,
                        "channel": st.sampled_from(["sms", "x"]),
                        "condition": json_values,
                        "branches": json_values,
                    },
                ),
                max_size=3,
            ),
        },
        optional={"exit": json_values, "reentry": json_values, "status": json_values},
    )
)
def test_journey_definitions_validate_or_explain(body: dict[str, Any]) -> None:
    from contenthub.journeys.models import JourneyIn

    in_process(JourneyIn.model_validate, body)


@FUZZ
@given(
    st.integers(0, 40),
    st.integers(0, 30),
    st.integers(0, 59),
    st.none() | st.integers(0, 6),
    st.none() | st.tuples(st.integers(0, 23), st.integers(0, 23)),
    st.datetimes(datetime(2024, 1, 1), datetime(2032, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(
        [
            "Asia/Shanghai",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "America/Santiago",
            "Asia/Kolkata",
            "UTC",
        ]
    ),
)
def test_journey_waits_never_end_early_in_any_zone(
    days: int, hours: int, minutes: int, weekday: int | None, window: tuple[int, int] | None, start: datetime, tz: str
) -> None:
    """Across DST jumps and half-hour zones a wait ends at or after start + its duration, on the weekday asked."""
    from contenthub.journeys.models import Wait
    from contenthub.journeys.waits import due_after

    fields: dict[str, Any] = {"days": days, "hours": hours, "minutes": minutes}
    if weekday is not None:
        fields["weekday"] = weekday
    if window is not None and window[0] != window[1]:
        fields.update(window_start=f"{window[0]:02d}:00", window_end=f"{window[1]:02d}:00")
    wait = in_process(Wait.model_validate, fields)
    if wait is None:
        return
    due = due_after(wait, start, tz)
    assert due >= start + timedelta(seconds=wait.seconds) - timedelta(hours=1), (due, start)  # DST fall-back hour
    if weekday is not None and window is None:
        assert due.astimezone(ZoneInfo(tz)).weekday() == weekday


# ---- query strings ------------------------------------------------------------------------------------------------


@HTTP_FUZZ
@given(
    weird_text,
    st.sampled_from(["text", "hybrid", "semantic", "bogus"]),
    st.dictionaries(
        st.sampled_from(
            [
                "scene",
                "channel",
                "kind",
                "tag",
                "status",
                "sort",
                "limit",
                "offset",
                "valid_at",
                "content_type",
                "stage",
            ]
        ),
        weird_text,
        max_size=3,
    ),
)
def test_search_query_strings_explain(clients: Any, q: str, mode: str, extra: dict[str, str]) -> None:
    viewer = clients.as_("viewer")
    explains(viewer.get("/v1/assets", params={"q": q, "mode": mode, **extra}))


@HTTP_FUZZ
@given(weird_text, weird_text)
def test_page_query_strings_explain(clients: Any, q: str, week: str) -> None:
    admin = clients.as_("admin")
    for path, params in (
        ("/library", {"q": q, "offset": week}),
        ("/users", {"q": q}),
        ("/calendar", {"week": week, "audience": q, "heat_channel": q}),
        ("/library/review", {"offset": q, "flash": q}),
    ):
        explains(admin.get(path, params=params))


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00:00-12:00",
        "0001-01-01T00:00:00+14:00",
        "2030-13-01",
        "2030-01-01T25:00:00",
        "2030-02-30",
        "10000-01-01",
        "-0001-01-01",
        "nan",
        "1e400",
    ],
)
def test_out_of_range_dates_are_422_everywhere(clients: Any, value: str) -> None:
    admin = clients.as_("admin")
    admin.put("/v1/groups", json={"id": "g-range"})
    calls = [
        admin.post("/v1/assets", json={"title": "t", "valid_from": value}),
        admin.post("/v1/assets", json={"title": "t", "valid_from": "2030-01-01T00:00:00", "valid_until": value}),
        admin.post(
            "/v1/events",
            json={
                "events": [{"id": f"ev-{value}", "type": "unsubscribe", "user_id": "u", "channel": "sms", "ts": value}]
            },
        ),
        admin.post("/v1/groups/g-range/members", json={"join": ["u"], "at": value}),
        admin.get("/v1/assets", params={"valid_at": value}),
        admin.get("/v1/holidays", params={"week": value}),
        admin.post("/v1/plans", json={"week": value[:10]}),
        admin.get(f"/v1/plans/{value[:10]}/due"),
        admin.get("/calendar", params={"week": value[:10]}),
    ]
    for r in calls:
        explains(r)
        assert r.status_code in (200, 201, 404, 422), (r.request.url, r.status_code, r.text[:200])


def test_naive_and_aware_validity_window_compare(clients: Any) -> None:
    """Bots send both; naive times are UTC (timeutil.to_utc) — comparing them raw raised TypeError (500)."""
    editor = clients.as_("editor")
    r = editor.post(
        "/v1/assets",
        json={"title": "窗口", "valid_from": "2030-01-01T00:00:00", "valid_until": "2030-01-01T07:00:00+08:00"},
    )
    assert r.status_code == 422 and "valid_until" in r.json()["error"]["message"]
    r = editor.post(
        "/v1/assets",
        json={"title": "窗口", "valid_from": "2030-01-01T00:00:00", "valid_until": "2030-01-01T09:00:00+08:00"},
    )
    assert r.status_code == 201


# ---- JSON that is not valid text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/events", '{"events": [{"id": "e\\ud800", "type": "unsubscribe", "user_id": "u", "channel": "sms"}]}'),
        (
            "/v1/events",
            '{"events": [{"id": "e1", "type": "unsubscribe", "user_id": "u", "channel": "sms",'
            ' "attributes": {"\\udfff": "x"}}]}',
        ),
        ("/v1/users", '{"id": "u1", "attributes": {"\\ud83d": 1}}'),
        ("/v1/assets", '{"title": "a\\ud800b"}'),
    ],
)
def test_lone_surrogates_are_refused_not_stored(clients: Any, path: str, body: str) -> None:
    admin = clients.as_("admin")
    method = admin.put if path == "/v1/users" else admin.post
    r = method(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "surrogate" in r.json()["error"]["message"], r.text
    paired = (
        body.replace("\\ud800", "\\ud83d\\ude00")
        .replace("\\udfff", "\\ud83d\\ude00")
        .replace('\\ud83d"', '\\ud83d\\ude00"')
    )
    explains(method(path, content=paired, headers={"content-type": "application/json"}))  # a real emoji is fine


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/v1/strategies/nan", '{"id": "nan", "weights": {"affinity": NaN}}', "weights.affinity"),
        ("/v1/segments/inf", '{"name": "s", "all": [{"field": "attr.x", "op": "gte", "value": Infinity}]}', "all.0"),
        ("/v1/users", '{"id": "u1", "attributes": {"x": NaN}}', "attributes.x"),
    ],
)
def test_non_finite_numbers_are_refused(clients: Any, path: str, body: str, field: str) -> None:
    r = clients.as_("admin").put(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith(field), r.text


# ---- uploads that lie -------------------------------------------------------------------------------------------------


def _docx(inner: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * inner)
    return buf.getvalue()


def _stored_files(hub: Any) -> list[Any]:
    return [p for p in hub.settings.media_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "name,data,declared,words",
    [
        ("cat.png", ELF_BYTES, "image/png", "not allowed"),
        ("poster.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg", "not allowed"),
        (
            "logo.png",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/png",
            "not allowed",
        ),
        (
            "report.docx",
            b"PK\x03\x04" + b"\x00" * 200,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "not",
        ),
        ("archive.docx", b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 100, "application/zip", "not"),
        (
            "bomb.docx",
            _docx(50_000_000),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "zip bomb",
        ),
    ],
)
def test_uploads_that_lie_about_their_type_are_415(
    clients: Any, name: str, data: bytes, declared: str, words: str
) -> None:
    editor = clients.as_("editor")
    r = editor.post("/v1/assets/upload", data={"title": "骗子"}, files={"file": (name, data, declared)})
    assert r.status_code == 415 and words in r.json()["error"]["message"], r.text[:300]
    assert not _stored_files(clients.hub), "a refused upload leaves no file (not even in the temp folder)"
    assert editor.get("/v1/assets").json()["total"] == 0


def test_image_named_html_is_stored_and_served_as_an_image(clients: Any) -> None:
    """The bytes decide: a PNG called page.html with text/html is an image, served as image/png + nosniff."""
    editor = clients.as_("editor")
    r = editor.post("/v1/assets/upload", data={"title": "图"}, files={"file": ("page.html", png_bytes(), "text/html")})
    assert r.status_code == 201 and r.json()["media"]["mime"] == "image/png"
    media = editor.get(f"/v1/assets/{r.json()['id']}/media")
    assert media.headers["content-type"] == "image/png" and media.headers["x-content-type-options"] == "nosniff"


def _multipart(boundary: str, parts: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: image/png\r\n\r\n" if filename else b"\r\n"
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_oversized_and_malformed_multipart_is_refused_cleanly(clients: Any) -> None:
    editor, hub = clients.as_("editor"), clients.hub
    limit = hub.settings.max_upload_bytes
    headers = {"content-type": "multipart/form-data; boundary=xx"}

    def chunked(data: bytes) -> Any:  # no Content-Length: only the streaming count can stop it
        for i in range(0, len(data), 64 * 1024):
            yield data[i : i + 64 * 1024]

    big_file = _multipart(
        "xx", [("title", b"t", None), ("file", png_bytes() + b"\0" * (limit + 2 * 1024 * 1024), "a.png")]
    )
    big_title = _multipart("xx", [("title", b"t" * (limit + 2 * 1024 * 1024), None), ("file", png_bytes(), "a.png")])
    mid_title = _multipart("xx", [("title", b"t" * 300_000, None), ("file", png_bytes(), "a.png")])
    many = _multipart("xx", [(f"f{i}", b"v", None) for i in range(1500)] + [("file", png_bytes(), "a.png")])
    cases = [
        (big_file, 413),
        (big_title, 413),
        (mid_title, 422),
        (many, 400),
        (b"garbage", 400),
        (_multipart("xx", [("title", b"\xff\xfe", None), ("file", png_bytes(), "a.png")]), 201),
    ]
    for body, status in cases:
        for content in (body, chunked(body)):
            r = editor.post("/v1/assets/upload", content=content, headers=headers)
            explains(r)
            assert r.status_code == status, (status, r.status_code, r.text[:200])
            if status == 413:
                assert "limit" in r.json()["error"]["message"]
    assert not list((hub.settings.media_dir / ".tmp").iterdir()), "no partial upload left in the temp folder"


def test_chunked_json_over_the_limit_is_413(clients: Any) -> None:
    limit = clients.hub.settings.max_request_bytes

    piece = b'{"id": "x", "type": "open"},' * 2_000

    def chunks() -> Any:
        yield b'{"events": ['
        for _ in range(limit // len(piece) + 3):
            yield piece

    r = clients.as_("bot").post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


# ---- unicode in titles and tags ---------------------------------------------------------------------------------------

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


@pytest.mark.parametrize(
    "title,tags,stored_title,stored_tags",
    [
        ("🎉 双11 🇨🇳 爆款 👍🏽", ["🎉", FAMILY, "🇨🇳"], "🎉 双11 🇨🇳 爆款 👍🏽", ["🎉", FAMILY, "🇨🇳"]),
        ("العربية عنوان", ["عربي", "עברית"], "العربية عنوان", ["عربي", "עברית"]),
        ("Cafe\u0301 入门", ["Cafe\u0301"], "Café 入门", ["Café"]),  # NFC: one spelling per tag
        ("护眼\x00\x07 小课堂\x1b", ["护眼\x00"], "护眼 小课堂", ["护眼"]),  # control characters dropped
        ("a" * 200, ["t" * 40] * 3, "a" * 200, ["t" * 40]),  # at the limits; duplicates collapse
    ],
)
def test_unicode_titles_and_tags_round_trip(
    clients: Any, title: str, tags: list[str], stored_title: str, stored_tags: list[str]
) -> None:
    editor = clients.as_("editor")
    r = editor.post("/v1/assets", json={"title": title, "tags": tags, "status": "approved"})
    assert r.status_code == 201, r.text
    got = editor.get(f"/v1/assets/{r.json()['id']}").json()
    assert got["title"] == stored_title and got["tags"] == stored_tags
    found = editor.get("/v1/assets", params={"tag": stored_tags[0]}).json()
    assert r.json()["id"] in [h["asset"]["id"] for h in found["items"]], "findable by its (normalised) tag"


@pytest.mark.parametrize(
    "title,tags,field",
    [
        ("a" * 201, [], "title"),
        ("ok", ["t" * 41], "tags"),
        ("ok", [f"t{i}" for i in range(51)], "tags"),
        ("\x00\x01", [], "title"),
        ("   ", [], "title"),
    ],
)
def test_unicode_limits_are_named(clients: Any, title: str, tags: list[str], field: str) -> None:
    r = clients.as_("editor").post("/v1/assets", json={"title": title, "tags": tags})
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize(
    "title,tags,stored_title,stored_tags",
    [
        ("\u200b护眼\u200b", ["护\u200b眼", "护眼", "\ufeff"], "护眼", ["护眼"]),
        ("\u202egnp.exe 海报", ["\u202e护眼"], "gnp.exe 海报", ["护眼"]),
    ],
)
def test_invisible_characters_do_not_make_lookalike_tags(
    clients: Any, title: str, tags: list[str], stored_title: str, stored_tags: list[str]
) -> None:
    """Zero-width spaces, BOMs and bidi overrides are dropped from titles and tags: '护\u200b眼' would be a
    second tag that looks exactly like '护眼' but never matches it, and U+202E can make a title read
    backwards. Joiners that emoji and scripts need (ZWJ/ZWNJ) stay."""
    editor = clients.as_("editor")
    r = editor.post("/v1/assets", json={"title": title, "tags": tags})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == stored_title and r.json()["tags"] == stored_tags
    r = editor.post("/v1/assets", json={"title": "\u200b\u2060\ufeff"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "title"
