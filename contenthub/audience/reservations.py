"""Reservations: a bot that will send a pick right away takes its cap slot and the asset atomically.

Why: a cap counted from delivered events holds for one caller, but two API processes asked at the
same moment would both see 'one left'. Each slot is a document created with create-if-absent
(``expected_version=0``), which both backends perform atomically, so exactly ``limit`` callers win
a period's slots and one caller wins a (user, channel, asset) pair — however many processes ask.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from contenthub.audience.caps import CapRule
from contenthub.errors import ConflictError
from contenthub.hub import Hub
from contenthub.timeutil import from_iso, to_iso

COLLECTION = "reservations"


def _periods(rule: CapRule, now: datetime, tz: str) -> list[tuple[str, int, str]]:
    local = now.astimezone(ZoneInfo(tz))
    out = []
    if rule.per_day is not None:
        out.append(("per_day", rule.per_day, local.strftime("d%Y-%m-%d")))
    if rule.per_week is not None:
        iso = local.isocalendar()
        out.append(("per_week", rule.per_week, f"w{iso.year}-{iso.week:02d}"))
    month_limit = rule.month_limit(local)
    if month_limit is not None:
        out.append(("per_month", month_limit, local.strftime("m%Y-%m")))
    return out


def take_cap_slot(hub: Hub, target: str, rule: CapRule, now: datetime, rec_id: str) -> tuple[list[str], str | None]:
    """Take one slot in every capped period; (slot ids, None) or ([], the limit that is full)."""
    taken: list[str] = []
    for name, limit, period in _periods(rule, now, hub.settings.timezone):
        got = None
        for k in range(1, limit + 1):
            slot = f"cap|{target}|{rule.channel}|{period}|{k}"
            try:
                hub.store.put_doc(
                    COLLECTION,
                    slot,
                    {
                        "kind": "cap",
                        "target": target,
                        "channel": rule.channel,
                        "period": period,
                        "slot": k,
                        "recommendation_id": rec_id,
                        "at": to_iso(now),
                    },
                    expected_version=0,
                )
            except ConflictError:
                continue
            got = slot
            break
        if got is None:
            release(hub, taken)
            return [], f"{name} limit of {limit} reached on {rule.channel} (all slots reserved)"
        taken.append(got)
    return taken, None


def take_asset(
    hub: Hub, target: str, channel: str, asset_id: str, now: datetime, window_days: int, rec_id: str
) -> bool:
    """Claim (target, channel, asset) for this send; an old claim outside the window may be renewed."""
    key = f"sent|{target}|{channel}|{asset_id}"
    body = {
        "kind": "sent",
        "target": target,
        "channel": channel,
        "asset_id": asset_id,
        "at": to_iso(now),
        "recommendation_id": rec_id,
    }
    try:
        hub.store.put_doc(COLLECTION, key, body, expected_version=0)
        return True
    except ConflictError:
        pass
    found = hub.store.get_doc_version(COLLECTION, key)
    if found is None:
        return False
    doc, version = found
    if from_iso(doc["at"]) > now - timedelta(days=window_days):
        return False
    try:
        hub.store.put_doc(COLLECTION, key, body, expected_version=version)
        return True
    except ConflictError:
        return False


def release(hub: Hub, slots: list[str]) -> None:
    for slot in slots:
        hub.store.delete_doc(COLLECTION, slot)
