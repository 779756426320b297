"""Reservations: a bot that will send a pick right away takes its cap slot and the asset atomically.

Why: a cap counted from delivered events holds for one caller, but two API processes asked at the
same moment would both see 'one left'. Each slot is a document created with create-if-absent
(``expected_version=0``), which both backends perform atomically, so exactly ``limit`` callers win
a period's slots and one caller wins a (user, channel, asset) pair — however many processes ask.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from contenthub.audience.caps import CapRule
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


class CapAsk(NamedTuple):
    """One send's cap slot request: every capped period of ``rule`` for ``target``, held under ``rec_id``."""

    target: str
    rule: CapRule
    rec_id: str


class AssetAsk(NamedTuple):
    """One send's asset claim: the first of ``assets`` (best first) this caller wins for (target, channel)."""

    target: str
    channel: str
    assets: list[tuple[str, str]]  # (asset id, recommendation id)


def _slot_id(target: str, channel: str, period: str, k: int) -> str:
    return f"cap|{target}|{channel}|{period}|{k}"


def claim_id(target: str, channel: str, asset_id: str) -> str:
    """The document id of the (target, channel, asset) claim: one per pair, so one caller wins it."""
    return f"sent|{target}|{channel}|{asset_id}"


def take_cap_slots(hub: Hub, asks: list[CapAsk], now: datetime) -> list[tuple[list[str], str | None]]:
    """Take one slot in every capped period for each ask: per ask (slot ids, None) or ([], the limit that
    is full). A slot already holding the ask's ``rec_id`` is the ask's own (a replayed page after a crash
    takes nothing twice). Every round of writes is one ``put_docs_if``: the first guesses slot 1 of each
    period without reading; a period whose guess met a taken slot reads its slots and takes the first
    free one in the next round — so a page of sends costs a few bulk writes, not one write per send."""
    tz = hub.settings.timezone
    periods = [_periods(a.rule, now, tz) for a in asks]
    held: list[dict[str, str]] = [{} for _ask in asks]  # period name -> slot id
    full: list[str | None] = [None] * len(asks)
    known: dict[str, dict[str, Any]] = {}  # slot id -> doc, for the periods that were read
    read: set[tuple[int, str]] = set()
    for _round in range(64):
        want: dict[str, tuple[dict[str, Any], int | None]] = {}
        owner: dict[str, tuple[int, str]] = {}
        for i, ask in enumerate(asks):
            if full[i] is not None:
                continue
            for name, limit, period in periods[i]:
                if name in held[i]:
                    continue
                ids = [_slot_id(ask.target, ask.rule.channel, period, k) for k in range(1, limit + 1)]
                if (i, name) in read:
                    mine = [sid for sid in ids if known.get(sid, {}).get("recommendation_id") == ask.rec_id]
                    if mine:
                        held[i][name] = mine[0]
                        continue
                    free = [sid for sid in ids if sid not in known and sid not in want]
                else:
                    free = [sid for sid in ids[:1] if sid not in want]
                if not free:
                    if (i, name) in read or not ids:
                        full[i] = f"{name} limit of {limit} reached on {ask.rule.channel} (all slots reserved)"
                        break
                    continue  # another ask of this page guessed the same slot: read next round
                body = {
                    "kind": "cap",
                    "target": ask.target,
                    "channel": ask.rule.channel,
                    "period": period,
                    "slot": int(free[0].rsplit("|", 1)[1]),
                    "recommendation_id": ask.rec_id,
                    "at": to_iso(now),
                }
                want[free[0]] = (body, 0)
                owner[free[0]] = (i, name)
        if not want:
            break
        missed = hub.store.put_docs_if(COLLECTION, want)
        for sid, (i, name) in owner.items():
            if sid not in missed:
                held[i][name] = sid
        reread = {owner[sid] for sid in missed} | {
            (i, name)
            for i, ask in enumerate(asks)
            if full[i] is None
            for name, _limit, _period in periods[i]
            if name not in held[i] and (i, name) not in read and (i, name) not in owner.values()
        }
        if reread:
            ids = [
                _slot_id(asks[i].target, asks[i].rule.channel, period, k)
                for i, name in reread
                for pname, limit, period in periods[i]
                if pname == name
                for k in range(1, limit + 1)
            ]
            known.update({sid: doc for sid, (doc, _v) in hub.store.get_docs_versioned(COLLECTION, ids).items()})
            read |= reread
    out: list[tuple[list[str], str | None]] = []
    for i in range(len(asks)):
        if full[i] is not None or len(held[i]) < len(periods[i]):
            release(hub, list(held[i].values()))
            out.append(([], full[i] or "could not take a cap slot (too many concurrent writers)"))
        else:
            out.append((list(held[i].values()), None))
    return out


def take_cap_slot(hub: Hub, target: str, rule: CapRule, now: datetime, rec_id: str) -> tuple[list[str], str | None]:
    """Take one slot in every capped period; (slot ids, None) or ([], the limit that is full)."""
    return take_cap_slots(hub, [CapAsk(target, rule, rec_id)], now)[0]


def take_assets(hub: Hub, asks: list[AssetAsk], now: datetime, window_days: int) -> list[int | None]:
    """Claim (target, channel, asset) for each ask: the index in ``assets`` of the first one it wins, or
    None. A claim holding the same recommendation id is the ask's own (replay); an old claim outside the
    window may be renewed (compare-and-set on its version). Like ``take_cap_slots``, the first round
    guesses without reading (each ask's best asset), later rounds read the asks that met a claim."""
    won: list[int | None] = [None] * len(asks)
    done = [not a.assets for a in asks]
    known: dict[str, tuple[dict[str, Any], int]] = {}
    read: set[int] = set()
    tried: list[set[int]] = [set() for _ask in asks]
    cutoff = now - timedelta(days=window_days)
    for _round in range(64):
        want: dict[str, tuple[dict[str, Any], int | None]] = {}
        owner: dict[str, tuple[int, int]] = {}
        for i, ask in enumerate(asks):
            if done[i]:
                continue
            choice: tuple[int, int] | None = None  # (candidate index, expected version)
            for j, (asset_id, rec_id) in enumerate(ask.assets):
                key = claim_id(ask.target, ask.channel, asset_id)
                if j in tried[i] or key in want:
                    continue
                if i not in read:
                    choice = (j, 0)
                    break
                found = known.get(key)
                if found is None:
                    choice = (j, 0)
                    break
                if found[0].get("recommendation_id") == rec_id:
                    won[i], done[i] = j, True
                    break
                if from_iso(found[0]["at"]) <= cutoff:
                    choice = (j, found[1])
                    break
            if done[i]:
                continue
            if choice is None:
                done[i] = i in read
                continue
            j, version = choice
            asset_id, rec_id = ask.assets[j]
            key = claim_id(ask.target, ask.channel, asset_id)
            body = {
                "kind": "sent",
                "target": ask.target,
                "channel": ask.channel,
                "asset_id": asset_id,
                "at": to_iso(now),
                "recommendation_id": rec_id,
            }
            want[key] = (body, version)
            owner[key] = (i, j)
        if not want:
            if all(done):
                break
            pending = [i for i in range(len(asks)) if not done[i] and i not in read]
            if not pending:
                break
            _read_claims(hub, asks, pending, known)
            read.update(pending)
            continue
        missed = hub.store.put_docs_if(COLLECTION, want)
        again: list[int] = []
        for key, (i, j) in owner.items():
            if key not in missed:
                won[i], done[i] = j, True
            elif i not in read:
                again.append(i)  # a guess met a claim: read this ask's claims, then choose
            else:
                tried[i].add(j)  # someone else took or renewed it since we read
        if again:
            _read_claims(hub, asks, again, known)
            read.update(again)
    return won


def _read_claims(
    hub: Hub, asks: list[AssetAsk], which: list[int], known: dict[str, tuple[dict[str, Any], int]]
) -> None:
    keys = [claim_id(asks[i].target, asks[i].channel, asset_id) for i in which for asset_id, _r in asks[i].assets]
    known.update(hub.store.get_docs_versioned(COLLECTION, keys))


def take_asset(
    hub: Hub, target: str, channel: str, asset_id: str, now: datetime, window_days: int, rec_id: str
) -> bool:
    """Claim (target, channel, asset) for this send; an old claim outside the window may be renewed."""
    return take_assets(hub, [AssetAsk(target, channel, [(asset_id, rec_id)])], now, window_days)[0] is not None


def release(hub: Hub, slots: list[str]) -> None:
    for slot in slots:
        hub.store.delete_doc(COLLECTION, slot)
