"""Due sends a page at a time (journeys/outbox.py ``_offer_page``), on both stores: the bulk claim and
compare-and-set writes they stand on, two runners on one page, and a page replayed after a crash between
the reservations and the state writes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contenthub.audience import caps, reservations
from contenthub.hub import Hub
from contenthub.journeys import engine, funnel, outbox, service
from contenthub.journeys.models import DueSend, JourneyIn
from contenthub.recommend import service as recommend
from contenthub.recommend.models import Recommendation
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso
from tests.test_journeys import BACKENDS, _close, _open, add_assets, at, journey

WAIT = 120.0  # seconds a test waits for the other runner's condition before failing (never reached when it works)


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Hub, Hub]]:
    """Two hubs on one store: two runners with their own connections (and their own caches)."""
    first = _open(tmp_path, request.param)
    second = _open(tmp_path, request.param) if request.param == "sqlite" else _same_store(first)
    yield first, second
    second.close()
    _close(first)


def _same_store(hub: Hub) -> Hub:
    from contenthub.hub import open_hub

    return open_hub(hub.settings)


def test_put_docs_if_writes_what_is_unchanged_and_reports_the_rest(pair: tuple[Hub, Hub]) -> None:
    store = pair[0].store
    store.put_doc("c", "a", {"n": 1})
    store.put_doc("c", "b", {"n": 1})
    found = store.get_docs_versioned("c", ["a", "b", "missing"])
    assert found == {"a": ({"n": 1}, 1), "b": ({"n": 1}, 1)}
    store.put_doc("c", "b", {"n": 2})  # someone else writes b after we read it
    missed = store.put_docs_if("c", {"a": ({"n": 10}, 1), "b": ({"n": 20}, 1), "new": ({"n": 30}, 0), "x": ({}, 5)})
    assert missed == {"b", "x"}
    assert store.get_docs_versioned("c", ["a", "b", "new", "x"]) == {
        "a": ({"n": 10}, 2),
        "b": ({"n": 2}, 2),
        "new": ({"n": 30}, 1),
    }
    assert store.put_docs_if("c", {"new": ({"n": 31}, 0), "a": ({"n": 11}, None)}) == {"new"}
    assert store.get_doc("c", "a") == {"n": 11}
    assert store.put_docs_if("c", {}) == set()


def test_cap_slots_of_a_page_are_taken_once_and_a_replay_takes_nothing_more(pair: tuple[Hub, Hub]) -> None:
    hub = pair[0]
    now = at(1, 12)
    rule = caps.CapRule(channel="sms", per_day=2)
    asks = [reservations.CapAsk(f"u{i % 3}", rule, f"r{i}") for i in range(7)]  # 7 asks on 3 users, 2 a day each
    first = reservations.take_cap_slots(hub, asks, now)
    assert Counter(a.target for a, (slots, full) in zip(asks, first, strict=True) if not full) == {
        "u0": 2,
        "u1": 2,
        "u2": 2,
    }
    again = reservations.take_cap_slots(hub, asks, now)
    assert again == first  # each id finds its own slot; the ones that were full are full still
    claims = [
        reservations.AssetAsk("u0", "sms", [("a1", "r0"), ("a2", "r0")]),
        reservations.AssetAsk("u0", "sms", [("a1", "r3"), ("a2", "r3")]),
    ]
    assert reservations.take_assets(hub, claims, now, 30) == [0, 1]
    assert reservations.take_assets(hub, claims, now, 30) == [0, 1]


def _setup(hub: Hub, users: int) -> None:
    """Two journeys with a send each to the same users on a channel capped at one a day."""
    add_assets(hub, n=30, channels=("sms",))
    caps.put_rule(hub, caps.CapRule(channel="sms", per_day=1))
    t0 = at(3, 12)
    for name in ("one", "two"):
        j = service.save(hub, JourneyIn.model_validate(journey([{"id": "a", "channel": "sms"}], name=name)), "t")
        engine.enroll_many(hub, j, [f"c{i}" for i in range(users)], now=t0)
    engine.run_until_idle(hub, t0)


def _cap_slots(hub: Hub) -> Counter[str]:
    return Counter(d["target"] for d in hub.store.list_docs(reservations.COLLECTION, where={"kind": "cap"}))


def _served(hub: Hub, users: int) -> list[dict[str, Any]]:
    ids = tuple(f"c{i}" for i in range(users))
    return hub.store.query_events(EventQuery(user_ids=ids, types=("served",), limit=10_000))


def _pausing_reserve(entered: threading.Event, resume: threading.Event) -> Callable[..., list[Recommendation]]:
    """``reserve_picks`` that, in the thread that sets ``entered``, waits for ``resume`` first."""
    real = recommend.reserve_picks

    def reserve(hub: Hub, recs: list[Recommendation], now: Any) -> list[Recommendation]:
        if threading.current_thread().name == "first":
            entered.set()
            assert resume.wait(WAIT), "the second runner did not finish"
        return real(hub, recs, now)

    return reserve


def test_two_runners_on_one_page_never_exceed_a_cap_or_send_twice(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first runner claims its page and stops before reserving; the second claims what is left of the
    same page — the other journey's sends to the same users — reserves and returns; then the first
    reserves: every user's one slot of the day is taken by then, so its sends come back capped."""
    first_hub, second_hub = pair
    users = 12
    _setup(first_hub, users)
    now = at(3, 12)
    entered, resume = threading.Event(), threading.Event()
    monkeypatch.setattr(recommend, "reserve_picks", _pausing_reserve(entered, resume))
    got: dict[str, list[DueSend]] = {}
    errors: list[BaseException] = []

    def run(name: str, hub: Hub) -> None:
        try:
            got[name] = outbox.fetch_due(hub, "sms", limit=100, now=now)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=run, args=("first", first_hub), name="first")
    first.start()
    assert entered.wait(WAIT), "the first runner never reached its reservations"
    run("second", second_hub)
    resume.set()
    first.join(WAIT)
    assert not first.is_alive() and not errors, errors
    sends = got["first"] + got["second"]
    assert got["first"] == [], "the first runner's sends should have met the slots the second took"
    assert len(got["second"]) == users
    assert len({s.recommendation_id for s in sends}) == len(sends)
    assert Counter(s.user_id for s in sends) == Counter({f"c{i}": 1 for i in range(users)})
    assert max(_cap_slots(first_hub).values()) == 1
    # later fetches the same day find every user capped: nothing more goes out
    assert outbox.fetch_due(first_hub, "sms", limit=100, now=now + timedelta(minutes=1)) == []
    assert outbox.fetch_due(second_hub, "sms", limit=100, now=now + timedelta(minutes=2)) == []
    served = _served(first_hub, users)
    assert Counter(e["user_id"] for e in served) == Counter({f"c{i}": 1 for i in range(users)})


def test_a_page_replayed_after_a_crash_between_reserving_and_the_state_writes_sends_the_same(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, other = pair
    users = 10
    _setup(hub, users)
    now = at(3, 12)
    real = recommend.reserve_picks
    reserved: list[Recommendation] = []

    def crash_after(h: Hub, recs: list[Recommendation], when: Any) -> list[Recommendation]:
        reserved.extend(real(h, recs, when))
        raise RuntimeError("killed between the reservations and the state writes")

    monkeypatch.setattr(recommend, "reserve_picks", crash_after)
    with pytest.raises(RuntimeError, match="killed"):
        outbox.fetch_due(hub, "sms", limit=100, now=now)
    monkeypatch.setattr(recommend, "reserve_picks", real)
    picked = {r.target: (r.picks[0].asset_id, r.picks[0].recommendation_id) for r in reserved if r.picks}
    assert len(picked) == users
    # within the pick lease the claims hold: nobody sends them
    assert outbox.fetch_due(other, "sms", limit=100, now=now + timedelta(minutes=1)) == []
    # after it, another runner takes them over and sends exactly what the crashed one reserved
    sends = outbox.fetch_due(other, "sms", limit=100, now=now + outbox.PICK_LEASE + timedelta(minutes=1))
    assert {s.user_id: (s.asset_id, s.recommendation_id) for s in sends} == picked
    assert max(_cap_slots(hub).values()) == 1
    served = _served(hub, users)
    assert sorted((e["user_id"], e["asset_id"], e["recommendation_id"]) for e in served) == sorted(
        (u, a, r) for u, (a, r) in picked.items()
    )
    assert outbox.fetch_due(hub, "sms", limit=100, now=now + outbox.PICK_LEASE + timedelta(minutes=2)) == []


def test_a_page_replayed_after_a_crash_between_the_send_records_and_the_outbox_writes_sends_the_same(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sends' records are created in one write and the outbox entries follow: a crash in between
    leaves records a replay finds there already; it sends the same assets under the same ids and its
    records (with its own offer times) are the ones that stand."""
    hub, other = pair
    users = 10
    _setup(hub, users)
    now = at(3, 12)
    real = hub.store.put_docs_if

    def crash_at_outbox(collection: str, docs: Any) -> set[str]:
        if collection.startswith(outbox.OUTBOX_PREFIX) and any(d.get("asset_id") for d, _v in docs.values()):
            raise RuntimeError("killed between the send records and the outbox entries")
        return real(collection, docs)

    monkeypatch.setattr(hub.store, "put_docs_if", crash_at_outbox)
    with pytest.raises(RuntimeError, match="killed"):
        outbox.fetch_due(hub, "sms", limit=100, now=now)
    monkeypatch.undo()
    records = {d["user_id"]: d for d in hub.store.list_docs(outbox.SENDS, limit=1000)}
    assert len(records) == users
    picked = {u: (d["asset_id"], d["recommendation_id"]) for u, d in records.items()}
    assert outbox.fetch_due(other, "sms", limit=100, now=now + timedelta(minutes=1)) == []
    later = now + outbox.PICK_LEASE + timedelta(minutes=1)
    sends = outbox.fetch_due(other, "sms", limit=100, now=later)
    assert {s.user_id: (s.asset_id, s.recommendation_id) for s in sends} == picked
    after = {d["user_id"]: d for d in other.store.list_docs(outbox.SENDS, limit=1000)}
    assert {u: (d["asset_id"], d["recommendation_id"]) for u, d in after.items()} == picked
    assert {d["offered_at"] for d in after.values()} == {to_iso(later)}
    assert max(_cap_slots(hub).values()) == 1
    assert Counter(e["user_id"] for e in _served(hub, users)) == Counter({f"c{i}": 1 for i in range(users)})


def test_closes_of_a_page_replayed_after_a_crash_are_counted_once(
    pair: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's closed sends (here: expired) keep their records and leave the outbox in one write at the
    end of the page; a fetch stopped before it leaves them listed, and the next one closes them again —
    each counted once, none left behind."""
    hub, other = pair
    users = 6
    _setup(hub, users)
    late = at(3, 12) + timedelta(days=30)  # past every send's expiry
    real = hub.store.put_docs_atomic

    def crash_at_outbox(collection: str, docs: Any, delete: Any = ()) -> None:
        if collection.startswith(outbox.OUTBOX_PREFIX):
            raise RuntimeError("killed before the closed sends left the outbox")
        real(collection, docs, delete)

    monkeypatch.setattr(hub.store, "put_docs_atomic", crash_at_outbox)
    with pytest.raises(RuntimeError, match="killed"):
        outbox.fetch_due(hub, "sms", limit=100, now=late)
    monkeypatch.undo()
    assert outbox.pending(other, "sms") == 2 * users
    assert outbox.fetch_due(other, "sms", limit=100, now=late) == []
    assert outbox.pending(other, "sms") == 0
    for j in service.heads(other).values():
        step = funnel.build(other, j.id).steps[0]
        assert (step.sent, step.expired) == (0, users)
