"""Event ingestion: validate each event, resolve who it is about, store the batch once.

Contract (documented in the API): a batch is *partially accepted* — each invalid event is rejected
with its index and reason, the valid ones are stored together in one transaction, and an id already
stored is counted as a duplicate and changes nothing. Profiles and asset statistics are updated in
that same transaction, so the very next recommendation sees the change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from contenthub.hub import Hub
from contenthub.journeys import triggers as journey_triggers
from contenthub.library import taxonomy
from contenthub.recommend import users
from contenthub.recommend.engagement import counter_deltas
from contenthub.recommend.models import EventIn, IngestResult, RejectedEvent
from contenthub.timeutil import to_iso, to_utc, utcnow

MAX_BATCH = 10000
NO_ASSET_TYPES = frozenset({"unsubscribe", "mute", "served"})


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def ingest(hub: Hub, raw_events: list[dict[str, Any]]) -> IngestResult:
    now = utcnow()
    horizon = now + timedelta(seconds=hub.settings.max_event_future_seconds)
    channels = set(taxonomy.ids(hub.store, "channels"))
    rejected: list[RejectedEvent] = []
    parsed: list[tuple[int, EventIn]] = []
    seen_ids: set[str] = set()
    in_batch_dupes = 0
    for i, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            rejected.append(RejectedEvent(index=i, reason="each event must be a JSON object"))
            continue
        try:
            ev = EventIn.model_validate(raw)
        except ValidationError as exc:
            rid = raw.get("id") if isinstance(raw.get("id"), str) else None
            rejected.append(RejectedEvent(index=i, id=rid, reason=_reason(exc)))
            continue
        if ev.channel not in channels:
            rejected.append(RejectedEvent(index=i, id=ev.id, reason=f"channel: unknown channel '{ev.channel}'; "
                                          f"allowed: {', '.join(sorted(channels))}"))
            continue
        if ev.ts is not None and to_utc(ev.ts) > horizon:
            rejected.append(RejectedEvent(index=i, id=ev.id, reason=f"ts: {ev.ts.isoformat()} is in the future; "
                                          "send the time the event happened"))
            continue
        if ev.asset_id is None and ev.type not in NO_ASSET_TYPES:
            rejected.append(RejectedEvent(index=i, id=ev.id, reason=f"asset_id: required for '{ev.type}' events"))
            continue
        if ev.id in seen_ids:
            in_batch_dupes += 1
            continue
        seen_ids.add(ev.id)
        parsed.append((i, ev))

    asset_ids = sorted({ev.asset_id for _, ev in parsed if ev.asset_id})
    assets = hub.store.get_assets(asset_ids) if asset_ids else {}
    rows: list[dict[str, Any]] = []
    # Users named by id: one bulk read for the batch instead of a look-up per user (the hot path at
    # 10,000 events per batch); unknown or merged ids still go through users.ensure_user below.
    named = sorted({ev.user_id for _, ev in parsed if ev.identity is None and ev.user_id is not None})
    user_cache: dict[str, str] = {
        uid: uid for uid, doc in (hub.store.get_docs(users.USERS, named) if named else {}).items()
        if not doc.get("merged_into")
    }
    for i, ev in parsed:
        if ev.asset_id and ev.asset_id not in assets:
            rejected.append(RejectedEvent(index=i, id=ev.id, reason=f"asset_id: no asset '{ev.asset_id}'"))
            continue
        ts = to_iso(ev.ts or now)
        user_id = None
        if ev.identity is not None:
            key = f"{ev.identity.type}:{ev.identity.value}"
            user_id = user_cache.get(key) or users.resolve_identity(hub, ev.identity, at=ts)
            user_cache[key] = user_id or ""
        elif ev.user_id is not None:
            user_id = user_cache.get(ev.user_id) or users.ensure_user(hub, ev.user_id, at=ts)
            user_cache[ev.user_id] = user_id
        rows.append({
            "id": ev.id, "type": ev.type, "user_id": user_id, "asset_id": ev.asset_id, "channel": ev.channel,
            "group_id": ev.group_id, "recommendation_id": ev.recommendation_id, "ts": ts, "value": ev.value,
            **({"attributes": ev.attributes} if ev.attributes else {}),
        })
    half_life = hub.settings.profile_half_life_days
    inserted = hub.store.add_events(rows, derive=lambda new: counter_deltas(new, assets, half_life)) if rows else []
    journey_triggers.on_events(hub, rows, inserted)
    rejected.sort(key=lambda r: r.index)
    return IngestResult(accepted=len(inserted), duplicates=len(rows) - len(inserted) + in_batch_dupes, rejected=rejected)
