"""A user's "first seen" is the earlier of the record's creation and the user's earliest event, on the
per-user and the batch path: users imported with back-dated history are not "new"."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from contenthub.audience import users
from contenthub.audience.models import UserIn
from contenthub.audience.profiles import load_profile
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset
from contenthub.recommend import batch, events, service
from contenthub.recommend.catalog import refresh_now
from contenthub.timeutil import to_iso, utcnow
from tests.helpers import put_assets_with_random_vectors


def test_first_seen_is_the_earlier_of_creation_and_first_event() -> None:
    assert users.first_seen({"created_at": "2026-03-01T00:00:00.000000Z"}) == "2026-03-01T00:00:00.000000Z"
    doc = {"created_at": "2026-03-01T00:00:00.000000Z", users.FIRST_EVENT: "2025-12-01T08:00:00.000000Z"}
    assert users.first_seen(doc) == "2025-12-01T08:00:00.000000Z"
    doc[users.FIRST_EVENT] = "2026-03-05T00:00:00.000000Z"  # an event after creation changes nothing
    assert users.first_seen(doc) == "2026-03-01T00:00:00.000000Z"
    assert users.first_seen(None) is None and users.first_seen({}) is None


@pytest.fixture
def imported(hub):
    """Two users created today: "old" with three months of back-dated events, "fresh" with one today."""
    now = utcnow()
    a = generate_assets(1, seed=5)[0]
    fields = {k: v for k, v in a.items() if k in Asset.model_fields}
    fields["channels"] = sorted({*fields["channels"], "wecom_1v1"})
    stamp = to_iso(now - timedelta(days=200))
    users.upsert_user(hub, UserIn(id="old"))
    users.upsert_user(hub, UserIn(id="fresh"))
    put_assets_with_random_vectors(
        hub,
        [Asset(**{**fields, "id": "a1", "status": "approved", "created_at": stamp, "updated_at": stamp}).model_dump()],
        32,
        np.random.default_rng(1),
    )
    evs = [
        {"id": f"old-{d}", "type": "click", "user_id": "old", "asset_id": "a1", "channel": "moments",
         "ts": to_iso(now - timedelta(days=d))}
        for d in (30, 90, 60)
    ] + [
        {"id": "fresh-0", "type": "click", "user_id": "fresh", "asset_id": "a1", "channel": "moments",
         "ts": to_iso(now - timedelta(hours=1))}
    ]  # fmt: skip
    assert not events.ingest(hub, evs).rejected
    refresh_now(hub)
    return hub, now


def _stage(hub, uid: str, now) -> str:
    doc = hub.store.get_doc(users.USERS, uid)
    return load_profile(hub, user_id=uid, user_doc=doc, now=now).status["stage"]


def test_back_dated_history_makes_a_user_first_seen_at_its_first_event(imported) -> None:
    hub, now = imported
    old = users.get_user(hub, "old")
    doc = hub.store.get_doc(users.USERS, "old")
    assert doc is not None and doc[users.FIRST_EVENT] == to_iso(now - timedelta(days=90))
    assert old.created_at > doc[users.FIRST_EVENT]  # the record's own creation is kept as it was
    assert _stage(hub, "old", now) != "new"
    assert _stage(hub, "fresh", now) == "new"
    # a newer event leaves the first event alone; an older one moves it back
    assert not events.ingest(
        hub,
        [
            {
                "id": "old-new",
                "type": "open",
                "user_id": "old",
                "asset_id": "a1",
                "channel": "moments",
                "ts": to_iso(now),
            },
            {
                "id": "fresh-old",
                "type": "open",
                "user_id": "fresh",
                "asset_id": "a1",
                "channel": "moments",
                "ts": to_iso(now - timedelta(days=40)),
            },
        ],  # fmt: skip
    ).rejected
    assert hub.store.get_doc(users.USERS, "old")[users.FIRST_EVENT] == to_iso(now - timedelta(days=90))
    assert hub.store.get_doc(users.USERS, "fresh")[users.FIRST_EVENT] == to_iso(now - timedelta(days=40))
    assert _stage(hub, "fresh", now) != "new"


@pytest.mark.parametrize("scan", [True, False], ids=["scan", "look-up"])
def test_batch_takes_first_seen_by_the_same_rule(imported, scan, monkeypatch) -> None:
    hub, now = imported
    if not scan:
        monkeypatch.setattr(batch, "SCAN_SHARE", 1e9)  # look users up by id instead of reading them all
    (res,) = list(batch.next_for_users(hub, ["old", "fresh"], "moments", now=now))
    for k, uid in enumerate(["old", "fresh"]):
        assert res.stages[k] == service.next_for_user(hub, uid, "moments", now=now).stage, uid
    assert res.stages[0] != "new" and res.stages[1] == "new"
