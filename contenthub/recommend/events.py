"""Event ingestion: validate each event, resolve who it is about, store the batch once.

Contract (documented in the API): a batch is *partially accepted* — each invalid event is rejected
with its index and reason, the valid ones are stored together in one transaction, and an id already
stored is counted as a duplicate and changes nothing. Profiles and asset statistics are updated in
that same transaction, so the very next recommendation sees the change.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contenthub import doccache
from contenthub.audience import group_profiles, users
from contenthub.audience.engagement import counter_deltas
from contenthub.audience.models import Identity, is_entity_id
from contenthub.error_text import pydantic_message
from contenthub.hooks import EventsStored
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.recommend import topics
from contenthub.recommend.models import EVENT_TYPES, EventIn, IngestResult, RejectedEvent
from contenthub.timeutil import EARLIEST, to_iso, utcnow

MAX_BATCH = 10000
MEMO_TTL = 60.0  # seconds an ingestion memo (assets, live users) is trusted without a touch
MEMO_MAX = 1_000_000  # entries before an ingestion memo starts over (bounds its memory)
_MEMO_KEY = "recommend.events"  # the ingestion memos' key in doccache (one per name: "assets", "users")
NO_ASSET_TYPES = frozenset({"unsubscribe", "mute", "served"})
# What counter_deltas reads of an asset (engagement.asset_features and the asset's id).
ASSET_FIELDS = ("id", "tags", "scenes", "content_type", "kind")

# A stored event: the row the store writes (its body is this dict), in this key order.
Row = dict[str, Any]

_TYPES = frozenset(EVENT_TYPES)
# The one time format the fast path takes as is: what timeutil.to_iso writes (UTC, microseconds, 'Z').
_CANONICAL_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
_EARLIEST = to_iso(EARLIEST)  # canonical stamps compare as the times they name: the range's lower end
_NOTHING = object()


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "event"
        parts.append(f"{loc}: {pydantic_message(err)}")
    return "; ".join(parts)


def _text(value: Any, max_length: int) -> bool:
    return type(value) is str and 0 < len(value) <= max_length


def _optional_text(value: Any, max_length: int) -> bool:
    return value is None or _text(value, max_length)


def _well_formed(raw: Any, channels: set[str], horizon: str) -> Row | None:
    """The row of an event that is plainly valid, or None to let ``_validated`` decide.

    Why: pydantic costs about as much per event as storing it (figures: bench/RESULTS.md, "Figures behind design choices"), and bots send well-formed
    events.
    This accepts a strict subset of what EventIn accepts — plain strings within EventIn's lengths, a
    known type and channel, a time exactly as ``to_iso`` writes it and not in the future, an int or
    float value within EventIn's bounds, no identity and no attributes — and yields the row
    ``_validated`` would build for it. Anything else (including every event that would be rejected)
    goes through EventIn, so rejection reasons come from one place.
    """
    if type(raw) is not dict:
        return None
    get = raw.get
    eid, etype, user_id, asset_id, channel = get("id"), get("type"), get("user_id"), get("asset_id"), get("channel")
    group_id, rec_id, ts, value = get("group_id"), get("recommendation_id"), get("ts"), get("value")
    if not (
        _text(eid, 128)
        and etype in _TYPES
        and (user_id is None or is_entity_id(user_id))
        and _optional_text(asset_id, 64)
        and _text(channel, 64)
        and channel in channels
        and _optional_text(group_id, 128)
        and _optional_text(rec_id, 128)
    ):
        return None
    if user_id is None and group_id is None:  # identity events and events about no one: EventIn decides
        return None
    if asset_id is None and etype not in NO_ASSET_TYPES:
        return None
    if get("identity") is not None or get("attributes", _NOTHING) not in (_NOTHING, {}):
        return None
    if ts is not None:
        if type(ts) is not str or ts > horizon or ts < _EARLIEST or _CANONICAL_TS.fullmatch(ts) is None:
            return None
        try:
            datetime.fromisoformat(ts)  # a real date and time (no 30 February)
        except ValueError:
            return None
    if value is not None:
        if type(value) not in (int, float) or not -1e9 <= value <= 1e9:
            return None
        value = float(value)
    return {
        "id": eid,
        "type": etype,
        "user_id": user_id,
        "asset_id": asset_id,
        "channel": channel,
        "group_id": group_id,
        "recommendation_id": rec_id,
        "ts": ts,
        "value": value,
    }


def _validated(
    i: int, raw: Any, channels: set[str], horizon: str, rejected: list[RejectedEvent]
) -> tuple[Row, Identity | None] | None:
    """The row (and identity) of an event checked by EventIn; None after recording why it was rejected."""
    if not isinstance(raw, dict):
        rejected.append(RejectedEvent(index=i, reason=_("each event must be a JSON object")))
        return None
    try:
        ev = EventIn.model_validate(raw)
    except ValidationError as exc:
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        rejected.append(RejectedEvent(index=i, id=rid, reason=_reason(exc)))
        return None
    if ev.channel not in channels:
        rejected.append(
            RejectedEvent(
                index=i,
                id=ev.id,
                reason=_("channel: unknown channel '{channel}'; allowed: {channels}").format(
                    channel=ev.channel, channels=", ".join(sorted(channels))
                ),
            )
        )
        return None
    ts = to_iso(ev.ts) if ev.ts is not None else None
    if ts is not None and ts > horizon:  # canonical stamps compare as the times they name
        rejected.append(
            RejectedEvent(
                index=i,
                id=ev.id,
                reason=_("ts: {isoformat} is in the future; send the time the event happened").format(isoformat=ts),
            )
        )
        return None
    if ev.asset_id is None and ev.type not in NO_ASSET_TYPES:
        rejected.append(
            RejectedEvent(index=i, id=ev.id, reason=_("asset_id: required for '{type}' events").format(type=ev.type))
        )
        return None
    row: dict[str, Any] = {
        "id": ev.id,
        "type": ev.type,
        "user_id": ev.user_id,
        "asset_id": ev.asset_id,
        "channel": ev.channel,
        "group_id": ev.group_id,
        "recommendation_id": ev.recommendation_id,
        "ts": ts,
        "value": ev.value,
    }
    if ev.attributes:
        row["attributes"] = ev.attributes
    return row, ev.identity


def _memo(hub: Hub, name: str) -> dict[str, Any]:
    """A per-process memo for ingestion (``doccache``), emptied when ``name`` changes (``hub.touch``, any
    process), every MEMO_TTL seconds and past MEMO_MAX entries.

    Why: a 10,000-event batch names ~6,000 assets and ~10,000 users, and reading them again for every
    batch (JSON fields of each asset; each user's ``merged_into``) was a large share of an event's cost. Assets
    are never deleted and their features change when an editor saves (which touches "assets"); users
    are merged or erased by users.merge_users / erasure.erase_user (which touch "users"). The TTL bounds how
    long a change made without a touch can go unseen."""
    known: dict[str, Any] = doccache.cached(hub, name, _MEMO_KEY, dict, ttl=MEMO_TTL)
    if len(known) > MEMO_MAX:
        known.clear()
    return known


def _assets(hub: Hub, asset_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The batch's assets, as much of each as ingestion reads (existence and the profile features):
    the store extracts those fields without decoding whole bodies.
    Known assets come from the process memo (see ``_memo``)."""
    known = _memo(hub, "assets")
    missing = [a for a in asset_ids if a not in known]
    if missing:
        known.update(hub.store.asset_fields(missing, ASSET_FIELDS))
    return {a: known[a] for a in asset_ids if a in known}


def _live_users(hub: Hub, user_ids: list[str]) -> tuple[set[str], dict[str, tuple[dict[str, Any], int]]]:
    """The ids among ``user_ids`` of stored users not merged into another (ids to store events under as
    they are), and the documents (with their versions) read to learn it. Users found so before come from
    the process memo (see ``_memo``) and cost no read; the others are read once for the whole batch, and
    that read also serves creating the missing ones (``users.ensure_users``) and keeping their first seen
    (``users.note_earliest_events``), which would each read them again otherwise."""
    known = _memo(hub, users.USERS)
    missing = [u for u in user_ids if u not in known]
    read = hub.store.get_docs_versioned(users.USERS, missing) if missing else {}
    known.update((uid, True) for uid, (doc, _version) in read.items() if not doc.get(users.MERGED_INTO))
    return {u for u in user_ids if u in known}, read


def _parse(
    raw_events: list[Any], channels: set[str], horizon: str, rejected: list[RejectedEvent]
) -> tuple[list[tuple[int, Row]], dict[int, Identity], int]:
    """Valid events in batch order with their indexes (first of each id only), the identities of those
    that name one (by index), and how many repeated an id seen earlier in the batch."""
    parsed: list[tuple[int, Row]] = []
    identities: dict[int, Identity] = {}
    seen_ids: set[str] = set()
    in_batch_dupes = 0
    for i, raw in enumerate(raw_events):
        row = _well_formed(raw, channels, horizon)
        identity = None
        if row is None:
            found = _validated(i, raw, channels, horizon, rejected)
            if found is None:
                continue
            row, identity = found
        if row["id"] in seen_ids:
            in_batch_dupes += 1
            continue
        seen_ids.add(row["id"])
        parsed.append((i, row))
        if identity is not None:
            identities[i] = identity
    return parsed, identities, in_batch_dupes


def ingest(hub: Hub, raw_events: list[dict[str, Any]]) -> IngestResult:
    started = utcnow()
    now = to_iso(started)
    horizon = to_iso(started + timedelta(seconds=hub.settings.max_event_future_seconds))
    channels = set(taxonomy.ids(hub.store, "channels"))
    rejected: list[RejectedEvent] = []
    parsed, identities, in_batch_dupes = _parse(raw_events, channels, horizon, rejected)

    asset_ids = sorted({row["asset_id"] for _ignored, row in parsed if row["asset_id"]})
    assets = _assets(hub, asset_ids) if asset_ids else {}
    rows: list[Row] = []
    # Users named by id: one bulk read for the batch instead of a look-up per user (the hot path at
    # 10,000 events per batch); unknown or merged ids still go through users.ensure_user below.
    named = sorted({row["user_id"] for i, row in parsed if i not in identities and row["user_id"] is not None})
    live, read = _live_users(hub, named) if named else (set(), {})
    user_cache: dict[str, str] = {uid: uid for uid in live}
    identity_cache: dict[tuple[str, str], str] = {}
    # Every rejection is decided above and here, before any user is created: a rejected event (or a
    # wholly rejected batch) leaves nothing behind.
    accepted: list[tuple[int, Row]] = []
    for i, row in parsed:
        aid = row["asset_id"]
        if aid and aid not in assets:
            rejected.append(
                RejectedEvent(index=i, id=row["id"], reason=_("asset_id: no asset '{aid}'").format(aid=aid))
            )
            continue
        accepted.append((i, row))
    unknown: dict[str, str | None] = {}  # → the user's earliest event in the batch: a new user is first seen then
    for i, row in accepted:
        uid = row["user_id"]
        if uid is not None and uid not in user_cache and i not in identities:
            ts = row["ts"] or now
            if (at := unknown.get(uid)) is None or ts < at:
                unknown[uid] = ts
    if unknown:  # users named by id the store does not hold (or merged ones): read above, one round of creates
        found = {uid: (read[uid][0] if uid in read else None) for uid in unknown}
        user_cache.update(users.ensure_users(hub, unknown, found=found))
    for i, row in accepted:
        ts = row["ts"]
        if not ts:
            ts = row["ts"] = now
        uid = row["user_id"]
        if identities and (identity := identities.get(i)) is not None:
            key = (identity.type, identity.value)  # a tuple: never equal to a user id
            row["user_id"] = identity_cache.get(key) or users.resolve_identity(hub, identity, at=ts)
            identity_cache[key] = row["user_id"] or ""
        elif uid is not None:
            row["user_id"] = user_cache[uid]
        rows.append(row)
    half_life = hub.settings.profile_half_life_days
    topic_of = topics.stored(hub) if assets else None  # the library's discovered topics count in profiles too
    # members' events also count for their groups' kept profiles (group_profiles), in the same write
    memberships = group_profiles.groups_of_users(hub, sorted({r["user_id"] for r in rows if r["user_id"]}))
    inserted = (
        hub.store.add_events(
            rows,
            derive=lambda new: (
                counter_deltas(new, assets, half_life, topic_of)
                + group_profiles.member_deltas(new, memberships, assets, half_life, topic_of)
            ),
        )
        if rows
        else []
    )
    if inserted:  # journeys enrol and attribute, learning counts towards its next refit (contenthub.hooks)
        earliest: dict[str, str] = {}
        for r in rows:
            if (uid := r["user_id"]) and (uid not in earliest or r["ts"] < earliest[uid]):
                earliest[uid] = r["ts"]
        users.note_earliest_events(hub, earliest, read=read)  # a back-dated history: its user first seen then
        hub.hooks.emit(EventsStored(hub, rows, inserted))
    rejected.sort(key=lambda r: r.index)
    return IngestResult(
        accepted=len(inserted), duplicates=len(rows) - len(inserted) + in_batch_dupes, rejected=rejected
    )
