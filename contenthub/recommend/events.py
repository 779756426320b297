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
# What counter_deltas reads of an asset (engagement.asset_features and the asset's id).
ASSET_FIELDS = ("id", "tags", "scenes", "content_type", "kind")


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _assets(hub: Hub, asset_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The batch's assets, as much of each as ingestion reads (existence and the profile features):
    the SQLite store extracts those fields without decoding whole bodies; other stores load the docs."""
    fields = getattr(hub.store, "asset_fields", None)
    return fields(asset_ids, ASSET_FIELDS) if fields else hub.store.get_assets(asset_ids)


def _merged_into(hub: Hub, user_ids: list[str]) -> dict[str, Any]:
    """Each stored user's ``merged_into`` (None when not merged); unknown ids are absent."""
    field = getattr(hub.store, "doc_field", None)
    if field:
        return field(users.USERS, user_ids, "merged_into")
    return {uid: doc.get("merged_into") for uid, doc in hub.store.get_docs(users.USERS, user_ids).items()}


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
    assets = _assets(hub, asset_ids) if asset_ids else {}
    rows: list[dict[str, Any]] = []
    # Users named by id: one bulk read for the batch instead of a look-up per user (the hot path at
    # 10,000 events per batch); unknown or merged ids still go through users.ensure_user below.
    named = sorted({ev.user_id for _, ev in parsed if ev.identity is None and ev.user_id is not None})
    user_cache: dict[str, str] = {uid: uid for uid, merged in (_merged_into(hub, named) if named else {}).items()
                                  if not merged}
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
