"""Due sends: queued by the engine, picked per user at fetch time, confirmed by delivered events.

Why the pick happens when a bot fetches (``GET /v1/journeys/due``) and not when the step comes due:
the asset should be the best one *at send time* (new assets, yesterday's clicks), and the cap check
must happen at the moment of sending. Fetching asks ``next_for_user`` for each send's picks, then
``recommend.reserve_picks`` takes the channel's cap slots and the assets atomically and records the
``served`` events — for a whole page of sends at once (``_offer_page``: a few bulk writes per page,
not a dozen acknowledged writes per send) — so a journey and the planner (or two bots, or two
processes) aiming at the same user never exceed the channel's caps.

Life of a send (key ``{journey}|{user}|{run}|{n}``): queued → offered (with a recommendation id;
the id derived from the key and the try, so a page replayed after a crash finds what it reserved;
re-offered with the same id if not confirmed within ``OFFER_LEASE``, at most ``MAX_OFFERS`` times) →
delivered (a delivered, open or click event carrying the id) — or expired / capped / no_asset /
unconfirmed. Until it is delivered or given up, the send lives in its channel's outbox
``journey_outbox:{channel}``, so a bot's fetch reads only pending sends (one write per queued send);
from its first offer on, ``journey_sends`` keeps its record (asset, id, delivered / opened / clicked /
converted), and ``journey_recs/{recommendation id}`` points events back at it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from contenthub.audience import profiles
from contenthub.audience.profiles import Profile
from contenthub.errors import ConflictError, InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.journeys import funnel, service
from contenthub.journeys.conditions import SENDS
from contenthub.journeys.models import DueSend, Journey, Step, Wait
from contenthub.journeys.waits import due_after
from contenthub.library import taxonomy
from contenthub.recommend import service as recommend
from contenthub.recommend.models import Pick, Reason, Recommendation
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

log = logging.getLogger(__name__)

RECS = "journey_recs"
OUTBOX_PREFIX = "journey_outbox:"
STATES = "journey_states"
OFFER_LEASE = timedelta(minutes=15)
PICK_LEASE = timedelta(minutes=2)
"""How long a caller's claim holds a send while it picks and reserves (its page's few bulk writes); a
claim left by a caller that stopped is taken over after this, with the same recommendation id."""
MAX_OFFERS = 3
ATTRIBUTION = timedelta(days=7)
"""A convert without a recommendation id counts for the last journey send delivered this long before."""
PAGE = 200
"""Outbox entries listed at a time — at least; a fetch lists twice its limit (``_listing``)."""
SCAN_PAGES = 25
MAX_LIMIT = 500
DELIVERY_PROOF = ("delivered", "open", "click", "convert")
FAILED = ("expired", "capped", "no_asset", "unconfirmed")


def new_send(state: dict[str, Any], journey: Journey, step: Step, now: datetime) -> dict[str, Any]:
    n = int(state.get("sends", 0)) + 1
    return {
        "key": f"{state['journey']}|{state['user_id']}|{state['run']}|{n}",
        "journey": state["journey"],
        "version": journey.version,
        "run": state["run"],
        "step": step.id,
        "step_name": step.name,
        "user_id": state["user_id"],
        "channel": step.channel,
        "scene": step.scene,
        "content_type": step.content_type,
        "fixed_asset": step.asset_id,
        "queued_at": to_iso(now),
        "window": [step.wait.window_start, step.wait.window_end] if step.wait.window_start else None,
        "expires_at": to_iso(now + timedelta(hours=step.expires_hours)),
        "status": "queued",
        "not_before": None,
        "offers": 0,
        "recommendation_id": None,
    }


def queue(hub: Hub, sends: list[dict[str, Any]]) -> int:
    """Queue sends in their channel's outbox (the whole send lives there until it is offered); a send
    that exists already — a replayed page after a crash — is left as it is."""
    if not sends:
        return 0
    offered = hub.store.get_docs(SENDS, [s["key"] for s in sends])
    by_channel: dict[str, dict[str, dict[str, Any]]] = {}
    for s in sends:
        if s["key"] not in offered:
            by_channel.setdefault(s["channel"], {})[s["key"]] = s
    queued = 0
    for channel, entries in by_channel.items():
        pending = hub.store.get_docs(OUTBOX_PREFIX + channel, list(entries))
        new = {k: v for k, v in entries.items() if k not in pending}
        if new:
            hub.store.put_docs_atomic(OUTBOX_PREFIX + channel, new)
            queued += len(new)
    return queued


def _window_opening(hub: Hub, s: dict[str, Any], at: datetime) -> datetime:
    """``at``, or the next opening of the step's local send window when ``at`` is outside it (a send
    deferred by a cap or fetched late still goes out inside office hours)."""
    if not s.get("window"):
        return at
    start, end = s["window"]
    return due_after(Wait(window_start=start, window_end=end), at, hub.settings.timezone)


def _fkey(s: dict[str, Any]) -> str:
    return funnel.key(s["journey"], s["version"])


class _Closing:
    """The sends a page closes (expired, capped, no asset, unconfirmed) and the outbox entries it moves to a
    later window, written together when the page is done (``flush``) instead of two writes per send.

    Why that is safe to stop anywhere and run again: a closed send keeps its record first (``SENDS``, for
    an offered one), then leaves the outbox; a page stopped before either still lists the send, and the
    next fetch closes it again with the same outcome (the record's write is the same, the deletion of an
    entry already gone is nothing). The counts are bumped once, with the fetch's others (``funnel.bump``)."""

    def __init__(self, channel: str) -> None:
        self.box = OUTBOX_PREFIX + channel
        self.records: dict[str, tuple[dict[str, Any], int | None]] = {}
        self.gone: list[str] = []
        self.moved: dict[str, tuple[dict[str, Any], int | None]] = {}

    def close(self, s: dict[str, Any], outcome: str, counts: Counter[tuple[str, str]]) -> None:
        """A send that will not go out: out of the outbox, counted; an offered one keeps its record (a late
        delivered event can still confirm it)."""
        if s.get("asset_id"):
            self.records[s["key"]] = ({**s, "status": outcome}, None)
        self.gone.append(s["key"])
        counts[(_fkey(s), f"{s['step']}:{outcome}")] += 1

    def move(self, s: dict[str, Any]) -> None:
        """An outbox entry rewritten as it stays (a later ``not_before``)."""
        self.moved[s["key"]] = (s, None)

    def flush(self, hub: Hub) -> None:
        hub.store.put_docs_if(SENDS, self.records)  # a record changed meanwhile (a late delivery) wins
        if self.gone or self.moved:
            hub.store.put_docs_atomic(self.box, {k: doc for k, (doc, _v) in self.moved.items()}, delete=self.gone)
        self.records, self.gone, self.moved = {}, [], {}


def _plan(hub: Hub, s: dict[str, Any], now: datetime, found: Profile) -> Recommendation:
    """The recommender's picks for this send, not yet reserved (or a capped/empty Recommendation), from the
    user's profile as the page read it."""
    user, channel, scene = s["user_id"], s["channel"], s.get("scene")
    if s.get("fixed_asset"):
        probe = recommend.next_for_user(hub, user, channel, n=1, now=now, found_profile=found)
        if probe.capped:
            return probe
        doc = hub.store.get_asset(s["fixed_asset"])
        if doc is None or doc.get("status") != "approved":
            return probe.model_copy(update={"picks": [], "reason": f"fixed asset '{s['fixed_asset']}' is not approved"})
        pick = Pick(
            asset_id=doc["id"],
            title=doc.get("title", ""),
            kind=doc.get("kind", ""),
            scenes=doc.get("scenes") or [],
            content_type=doc.get("content_type"),
            score=1.0,
            recommendation_id=s["recommendation_id"],
            signals={},
            reasons=[Reason(kind="lifecycle", detail=f"fixed asset of journey step '{s['step']}'")],
        )
        return probe.model_copy(update={"picks": [pick]})
    if s.get("content_type"):
        probe = recommend.next_for_user(hub, user, channel, scene=scene, n=30, now=now, found_profile=found)
        if probe.capped or not probe.picks:
            return probe
        picks = [p for p in probe.picks if p.content_type == s["content_type"]][:3]
        if not picks:
            return probe.model_copy(update={"picks": [], "reason": f"no eligible {s['content_type']} asset"})
        return probe.model_copy(update={"picks": picks})
    return recommend.next_for_user(hub, user, channel, scene=scene, n=3, now=now, found_profile=found)


def _recorded(s: dict[str, Any], record: dict[str, Any]) -> Recommendation:
    """The picks a replayed page already recorded for this send (``RECS``): the same assets, in order."""
    return Recommendation(
        target=record["target"],
        target_kind="user",
        channel=s["channel"],
        strategy=record["strategy"],
        picks=[Pick.model_validate(p) for p in record["picks"]],
        variant=record.get("variant"),
    )


def _rec_id(key: str, tries: int) -> str:
    """The recommendation id of a send's ``tries``-th pick: derived, so a page replayed after a crash
    finds its cap slots, asset claims, served record and ``RECS`` entry under the same id."""
    return "r_" + hashlib.sha256(f"{key}|{tries}".encode()).hexdigest()[:16]


def _claimed(s: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The outbox entry of a send this caller claims: a re-offer (picked before) holds it for the offer
    lease; a fresh pick (or one a crashed caller left half done) for the pick lease, under its id."""
    if s.get("asset_id"):
        until, offers, tries, rec_id = (
            now + OFFER_LEASE,
            int(s["offers"]) + 1,
            s.get("tries", 1),
            s["recommendation_id"],
        )
    elif s["status"] == "offered" and s.get("recommendation_id"):
        until, offers, tries, rec_id = now + PICK_LEASE, int(s["offers"]), s.get("tries", 1), s["recommendation_id"]
    else:
        tries = int(s.get("tries", 0)) + 1
        until, offers, rec_id = now + PICK_LEASE, int(s["offers"]) + 1, _rec_id(s["key"], tries)
    return {
        **s,
        "status": "offered",
        "offers": offers,
        "tries": tries,
        "recommendation_id": rec_id,
        "offered_at": to_iso(now),
        "offered_until": to_iso(until),
    }


def _due_send(s: dict[str, Any]) -> DueSend:
    return DueSend(
        journey=s["journey"],
        journey_version=s["version"],
        step=s["step"],
        step_name=s.get("step_name", ""),
        user_id=s["user_id"],
        channel=s["channel"],
        scene=s.get("scene"),
        asset_id=s["asset_id"],
        title=s.get("title", ""),
        kind=s.get("kind", ""),
        recommendation_id=s["recommendation_id"],
        due_at=s["queued_at"],
        expires_at=s["expires_at"],
        offer=int(s["offers"]),
        reasons=s.get("reasons") or [],
    )


def _delivered_meanwhile(hub: Hub, s: dict[str, Any]) -> str | None:
    """Proof of delivery in the event log (if the event hook missed it): the event's time, or None."""
    evs = hub.store.query_events(
        EventQuery(
            user_ids=(s["user_id"],),
            channels=(s["channel"],),
            types=DELIVERY_PROOF,
            since=from_iso(s["offered_at"]),
            limit=200,
        )
    )
    hit = [e for e in evs if e.get("recommendation_id") == s["recommendation_id"]]
    return min(e["ts"] for e in hit) if hit else None


def _offer_page(
    hub: Hub,
    channel: str,
    sends: list[dict[str, Any]],
    now: datetime,
    counts: Counter[tuple[str, str]],
    closing: _Closing,
) -> tuple[list[DueSend], int]:
    """Claim a page's sends for this caller and pick and reserve their assets together; returns the due
    sends and how many of ``sends`` stay in the outbox.

    Each step is one round of writes for the whole page, in an order that is safe to stop anywhere and
    run again: (1) claim every send by compare-and-set on the version listed (two callers never both
    get one); (2) pick (reads only) — or take the pick recorded for the send's id by a run that stopped
    later; (3) record the picks in ``RECS`` under their derived ids; (4) reserve cap slots and assets
    and write the served records (``recommend.reserve_picks``: a slot or claim under the same id is
    the send's own); (5) write each picked send's record, then (6) its outbox entry, compare-and-set on
    the claim: a caller whose claim lapsed meanwhile (``PICK_LEASE``) returns nothing, the one that
    re-claimed it finishes the same pick."""
    box = OUTBOX_PREFIX + channel
    sends_by_key = {s["key"]: s for s in sends}
    listed = hub.store.get_docs_versioned(box, [s["key"] for s in sends])
    claims = {
        s["key"]: (_claimed(s, now), listed[s["key"]][1])
        for s in sends
        if s["key"] in listed and listed[s["key"]][0] == s
    }
    missed = hub.store.put_docs_if(box, claims)
    stays = len(sends) - len(claims) + len(missed)
    won = {key: (doc, version + 1) for key, (doc, version) in claims.items() if key not in missed}
    out = [_due_send(doc) for doc, _v in won.values() if doc.get("asset_id")]  # re-offers: same asset and slot
    stays += len(out)
    fresh = [(doc, version) for doc, version in won.values() if not doc.get("asset_id")]
    if not fresh:
        return out, stays
    # Only a send taken over from a caller that stopped (offered, no asset yet) can have recorded picks: a
    # send claimed from the queue has a new try, so an id no one has used.
    taken_over = [doc["recommendation_id"] for doc, _v in fresh if sends_by_key[doc["key"]]["status"] == "offered"]
    records = hub.store.get_docs(RECS, taken_over) if taken_over else {}
    # every user's profile inputs (document, newest events, counters) in one store read for the page
    people = profiles.load_profiles(
        hub, [doc["user_id"] for doc, _v in fresh if doc["recommendation_id"] not in records], now=now
    )
    recs: list[Recommendation] = []
    for doc, _v in fresh:
        record = records.get(doc["recommendation_id"])
        rec = _recorded(doc, record) if record else _plan(hub, doc, now, people[doc["user_id"]])
        rid = doc["recommendation_id"]
        recs.append(
            rec.model_copy(update={"picks": [p.model_copy(update={"recommendation_id": rid}) for p in rec.picks]})
        )
    plans = {
        doc["recommendation_id"]: (
            {
                "send": doc["key"],
                "journey": doc["journey"],
                "step": doc["step"],
                "user_id": doc["user_id"],
                "at": to_iso(now),
                "target": rec.target,
                "strategy": rec.strategy,
                "variant": rec.variant,
                "picks": [p.model_dump(mode="json") for p in rec.picks],
            },
            0,
        )
        for (doc, _v), rec in zip(fresh, recs, strict=True)
        if rec.picks and not rec.capped and doc["recommendation_id"] not in records
    }
    hub.store.put_docs_if(RECS, plans)  # an id already recorded is a replay's: its record stands
    picked: dict[str, tuple[dict[str, Any], int | None]] = {}
    entries: dict[str, tuple[dict[str, Any], int | None]] = {}
    for (doc, version), rec in zip(fresh, recommend.reserve_picks(hub, recs, now), strict=True):
        if rec.capped:
            reopen = to_iso(_window_opening(hub, doc, from_iso(rec.next_allowed_at))) if rec.next_allowed_at else None
            if reopen is None or reopen >= doc["expires_at"]:
                closing.close({**doc, "last_reason": rec.reason}, "capped", counts)
                continue
            requeued = {**doc, "status": "queued", "not_before": reopen, "offers": int(doc["offers"]) - 1}
            entries[doc["key"]] = ({**requeued, "last_reason": rec.reason}, version)
            continue
        if not rec.picks:
            closing.close({**doc, "last_reason": rec.reason}, "no_asset", counts)
            continue
        pick = rec.picks[0]
        done = {
            **doc,
            "offered_until": to_iso(now + OFFER_LEASE),
            "asset_id": pick.asset_id,
            "title": pick.title,
            "kind": pick.kind,
            "reasons": [r.model_dump() for r in pick.reasons],
            "variant": rec.variant,
        }
        picked[doc["key"]] = (done, None)
        entries[doc["key"]] = (done, version)
    # A send's record is new but for a page replayed after a crash between this write and the next (the same
    # id and pick, from RECS): create them all, then write over the few that were there.
    again = hub.store.put_docs_if(SENDS, {key: (done, 0) for key, (done, _v) in picked.items()})
    hub.store.put_docs_if(SENDS, {key: picked[key] for key in again})
    lost = hub.store.put_docs_if(box, entries)
    stays += len(entries)
    out.extend(_due_send(done) for key, (done, _v) in picked.items() if key not in lost)
    return out, stays


def fetch_due(hub: Hub, channel: str, limit: int = 100, now: datetime | None = None) -> list[DueSend]:
    """Up to ``limit`` sends due now on ``channel`` (at most one per user per call), each with its pick."""
    taxonomy.validate_values(hub.store, "channel", "channels", [channel])
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidError(
            _("limit must be between 1 and {MAX_LIMIT}.").format(MAX_LIMIT=MAX_LIMIT), field="limit", value=limit
        )
    now = now or service.clock(hub)
    now_iso = to_iso(now)
    out: list[DueSend] = []
    served_users: set[str] = set()
    counts: Counter[tuple[str, str]] = Counter()
    closing = _Closing(channel)
    kept = 0
    size = _listing(limit)
    for _page in range(SCAN_PAGES):
        if len(out) >= limit:
            break
        page = hub.store.list_docs(OUTBOX_PREFIX + channel, limit=size, offset=kept)
        if not page:
            break
        heads = service.heads(hub)
        ready: list[dict[str, Any]] = []
        for s in page:
            head = heads.get(s["journey"])
            if s["expires_at"] <= now_iso or head is None or head.status == "archived":
                closing.close(s, "unconfirmed" if s.get("asset_id") else "expired", counts)
                continue
            if head.status == "paused" and not s.get("asset_id"):
                kept += 1  # paused: nothing new goes out until it is resumed (or the send expires)
                continue
            if (
                len(out) + len(ready) >= limit
                or s["user_id"] in served_users
                or (s.get("not_before") or "") > now_iso
                or (s["status"] == "offered" and s.get("offered_until", "") > now_iso)
            ):
                kept += 1
                continue
            opening = _window_opening(hub, s, now)
            if opening > now and not s.get("asset_id"):
                if to_iso(opening) >= s["expires_at"]:
                    closing.close(s, "expired", counts)
                    continue
                closing.move({**s, "not_before": to_iso(opening)})
                kept += 1
                continue
            if s["status"] == "offered" and s.get("asset_id"):
                proof = _delivered_meanwhile(hub, s)
                if proof is not None:
                    _confirm(hub, s, proof, counts)
                    continue
                if int(s["offers"]) >= MAX_OFFERS:
                    closing.close(s, "unconfirmed", counts)
                    continue
            ready.append(s)
            served_users.add(s["user_id"])
        if ready:
            due, stays = _offer_page(hub, channel, ready, now, counts, closing)
            out.extend(due)
            kept += stays
        closing.flush(hub)
        if len(page) < size:
            break
    funnel.bump(hub, counts)
    return out


def _listing(limit: int) -> int:
    """How many outbox entries a fetch of ``limit`` lists at a time: twice the limit (at least ``PAGE``), so
    the entries it passes over (offered and not yet confirmed, deferred, a user's second send, a paused
    journey's) seldom push the last sends it wants into a second page — on Elasticsearch each page is a
    refresh, a listing and its own round of reads and bulk writes."""
    return max(PAGE, 2 * limit)


def _confirm(hub: Hub, s: dict[str, Any], at: str, counts: Counter[tuple[str, str]]) -> None:
    """Delivery proven from the event log for an offered send still in the outbox."""
    _mark(hub, s["key"], {"type": "delivered", "ts": at}, counts)
    hub.store.delete_doc(OUTBOX_PREFIX + s["channel"], s["key"])


def _mark(hub: Hub, key: str, row: dict[str, Any], counts: Counter[tuple[str, str]]) -> None:
    """Record one event on its send: first delivery, first open, first click, first conversion."""
    for _ignored in range(3):
        found = hub.store.get_doc_version(SENDS, key)
        if found is None:
            return
        s, version = found
        new = dict(s)
        local: Counter[tuple[str, str]] = Counter()
        etype = row["type"]
        fk = _fkey(s)
        newly_delivered = False
        if etype in DELIVERY_PROOF and not s.get("delivered_at"):
            newly_delivered = True
            new.update(status="delivered", delivered_at=row["ts"])
            local[(fk, f"{s['step']}:sent")] += 1
            if s.get("status") in FAILED:
                local[(fk, f"{s['step']}:{s['status']}")] -= 1
        for flag, types in (("opened", ("open", "click")), ("clicked", ("click",)), ("converted", ("convert",))):
            if etype in types and not s.get(flag):
                new[flag] = row["ts"]
                local[(fk, f"{s['step']}:{flag}")] += 1
        if not local:
            return
        try:
            hub.store.put_doc(SENDS, key, new, expected_version=version)
        except ConflictError:
            continue
        if newly_delivered:
            hub.store.delete_doc(OUTBOX_PREFIX + s["channel"], key)
        counts.update(local)
        return


def _last_touch(hub: Hub, rows: list[dict[str, Any]], counts: Counter[tuple[str, str]]) -> None:
    """Conversions without a recommendation id: credit each journey's last delivered send to that user
    within ``ATTRIBUTION`` before the conversion (once per send)."""
    journeys = list(service.heads(hub))
    if not journeys:
        return
    for r in rows:
        states = hub.store.get_docs(STATES, [f"{j}|{r['user_id']}" for j in journeys])
        keys = [s["last_send"] for s in states.values() if s.get("last_send")]
        if not keys:
            continue
        ts = from_iso(r["ts"])
        for s in hub.store.get_docs(SENDS, keys).values():
            if (
                s.get("delivered_at")
                and not s.get("converted")
                and ts - ATTRIBUTION <= from_iso(s["delivered_at"]) <= ts
            ):
                _mark(hub, s["key"], r, counts)


def on_events(hub: Hub, rows: list[dict[str, Any]]) -> None:
    """Event hook: attribute newly stored events to journey sends (one look-up per batch)."""
    attributable = [r for r in rows if r.get("recommendation_id") and r["type"] in DELIVERY_PROOF]
    found = hub.store.get_docs(RECS, list({r["recommendation_id"] for r in attributable})) if attributable else {}
    counts: Counter[tuple[str, str]] = Counter()
    for r in attributable:
        rec = found.get(r["recommendation_id"])
        if rec is not None:
            _mark(hub, rec["send"], r, counts)
    loose = [r for r in rows if r["type"] == "convert" and r.get("user_id") and r.get("recommendation_id") not in found]
    if loose:
        _last_touch(hub, loose, counts)
    funnel.bump(hub, counts)


def sweep_expired(hub: Hub, now: datetime, *, max_pages: int = 50) -> int:
    """Close expired sends on channels no bot fetches (fetching closes them too); returns how many."""
    now_iso = to_iso(now)
    counts: Counter[tuple[str, str]] = Counter()
    closed = 0
    for channel in taxonomy.ids(hub.store, "channels"):
        kept = 0
        closing = _Closing(channel)
        for _ignored in range(max_pages):
            page = hub.store.list_docs(OUTBOX_PREFIX + channel, limit=PAGE, offset=kept)
            if not page:
                break
            for s in page:
                if s["expires_at"] <= now_iso:
                    closing.close(s, "unconfirmed" if s.get("recommendation_id") else "expired", counts)
                    closed += 1
                else:
                    kept += 1
            closing.flush(hub)
            if len(page) < PAGE:
                break
    funnel.bump(hub, counts)
    return closed


def pending(hub: Hub, channel: str) -> int:
    return hub.store.count_docs(OUTBOX_PREFIX + channel)
