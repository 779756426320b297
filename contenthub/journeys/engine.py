"""Per-user journey state and the scheduler that advances due users.

A state is one document ``{journey}|{user}`` in ``journey_states``: which version the user entered
with (pinned: edits never move users in flight), the step they are waiting for, when it is due, and
their run number (re-entry). ``advance_due`` takes the due users from the due index (dueindex.py),
checks exit conditions, follows branches, skips or queues sends (outbox.py), and moves each user to
the next step — through any zero-wait steps in one go — in a handful of batched writes per page.

Write order per page, so a crash anywhere loses nothing (see dueindex.py): new hints → queued sends
(never overwriting a send that exists) → states → old hints deleted → funnel counters.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from contenthub.errors import ConflictError
from contenthub.hub import Hub
from contenthub.journeys import dueindex, funnel, outbox, service
from contenthub.journeys.conditions import Facts, describe, holds, prefetch_rare
from contenthub.journeys.models import EXIT, AdvanceResult, Journey, Trigger
from contenthub.journeys.waits import due_after
from contenthub.timeutil import from_iso, to_iso
from contenthub.variants import runtime as variants

log = logging.getLogger(__name__)

STATES = "journey_states"
PAGE = 500
HISTORY = 20
PAUSE_RECHECK = timedelta(hours=1)
ERROR_RETRY = timedelta(hours=1)


def state_key(journey_id: str, user_id: str) -> str:
    return f"{journey_id}|{user_id}"


def get_state(hub: Hub, journey_id: str, user_id: str) -> dict[str, Any] | None:
    return hub.store.get_doc(STATES, state_key(journey_id, user_id))


# ---- entering ---------------------------------------------------------------------------------------------------


def _run_journey(hub: Hub, journey: Journey, user_id: str) -> tuple[Journey, Any]:
    """The journey this user actually runs: an experiment may assign a variant journey instead."""

    ov = variants.journey_variant(hub, user_id, journey.id)
    if ov is None:
        return journey, None
    if ov.journey and ov.journey != journey.id:
        alt = service.heads(hub).get(ov.journey)
        if alt is not None and alt.status != "archived":
            return alt, ov
    return journey, ov


def _reentry_block(journey: Journey, doc: dict[str, Any], now: datetime) -> str | None:
    if doc["status"] == "active":
        return "already in the journey"
    if journey.reentry.mode == "once":
        return "entered before (re-entry: once)"
    if from_iso(doc["entered_at"]) + timedelta(days=journey.reentry.days) > now:
        return f"entered less than {journey.reentry.days} days ago (re-entry: every {journey.reentry.days} days)"
    return None


def _new_state(
    hub: Hub,
    journey: Journey,
    user_id: str,
    run: int,
    entered: datetime,
    now: datetime,
    *,
    tentative: bool,
    entry_stage: str | None,
    variant: str | None,
) -> dict[str, Any]:
    first = journey.steps[0]
    due = max(due_after(first.wait, entered, hub.settings.timezone), entered)
    return {
        "key": state_key(journey.id, user_id),
        "journey": journey.id,
        "user_id": user_id,
        "version": journey.version,
        "run": run,
        "status": "active",
        "step": first.id,
        "due_at": to_iso(due),
        "entered_at": to_iso(entered),
        "entry_stage": entry_stage,
        "last_send": None,
        "sends": 0,
        "exit_reason": None,
        "variant": variant,
        "tentative": tentative,
        "history": [],
        "updated_at": to_iso(now),
    }


def _entry_stage(hub: Hub, journey: Journey, user_id: str, now: datetime, known: str | None) -> str | None:
    if known is not None or not any(c.kind == "stage_left" for c in journey.exit):
        return known
    return Facts(hub, user_id, now).stage()


def enroll(
    hub: Hub,
    journey: Journey,
    user_id: str,
    *,
    at: datetime | None = None,
    now: datetime | None = None,
    tentative: bool = False,
    entry_stage: str | None = None,
) -> tuple[bool, str]:
    """Put one user into a journey (or the variant an experiment assigns); (entered?, journey id or why not).

    ``at`` is when the trigger happened (a user added yesterday and reported late enters yesterday);
    ``tentative`` means a trigger filter could not be checked yet (the user document was still being
    filled in) and is checked again when the first step comes due."""

    now = now or service.clock(hub)
    run_j, ov = _run_journey(hub, journey, user_id)
    key = state_key(run_j.id, user_id)
    found = hub.store.get_doc_version(STATES, key)
    run, expected = 1, 0
    if found is not None:
        doc, expected = found
        why = _reentry_block(run_j, doc, now)
        if why:
            return False, why
        run = int(doc.get("run", 1)) + 1
    entered = min(at or now, now)
    state = _new_state(
        hub,
        run_j,
        user_id,
        run,
        entered,
        now,
        tentative=tentative,
        entry_stage=_entry_stage(hub, run_j, user_id, now, entry_stage),
        variant=ov.label if ov else None,
    )
    dueindex.put_hints(hub, [dueindex.make_hint(state, now)], now)
    try:
        hub.store.put_doc(STATES, key, state, expected_version=expected)
    except ConflictError:
        return False, "entered concurrently by another request"
    fkey = funnel.key(run_j.id, run_j.version)
    counts = [(fkey, f"{run_j.steps[0].id}:waiting")]
    if not tentative:  # a tentative entry counts once its trigger filters are confirmed
        counts.append((fkey, f"{funnel.JOURNEY}:entered"))
    funnel.bump(hub, counts)
    if ov is not None:
        variants.log_exposure(hub, ov, user_id, now)
    return True, run_j.id


def enroll_many(
    hub: Hub, journey: Journey, user_ids: list[str], *, at: datetime | None = None, now: datetime | None = None
) -> dict[str, str]:
    """Bulk entry (imports of an existing audience, benchmarks): one read and a few writes per 500 users.

    Writes states without per-document version checks (like the scheduler), so use it where no
    other writer races on the same users; triggers use :func:`enroll`. Returns skipped users with
    the reason."""

    now = now or service.clock(hub)
    entered = min(at or now, now)
    skipped: dict[str, str] = {}
    for i in range(0, len(user_ids), PAGE):
        chunk = list(dict.fromkeys(user_ids[i : i + PAGE]))
        plan = [(uid, *_run_journey(hub, journey, uid)) for uid in chunk]
        existing = hub.store.get_docs(STATES, [state_key(j.id, uid) for uid, j, _ in plan])
        states: dict[str, dict[str, Any]] = {}
        counts: Counter[tuple[str, str]] = Counter()
        exposures = []
        for uid, j, ov in plan:
            doc = existing.get(state_key(j.id, uid))
            run = 1
            if doc is not None:
                why = _reentry_block(j, doc, now)
                if why:
                    skipped[uid] = why
                    continue
                run = int(doc.get("run", 1)) + 1
            st = _new_state(
                hub,
                j,
                uid,
                run,
                entered,
                now,
                tentative=False,
                entry_stage=_entry_stage(hub, j, uid, now, None),
                variant=ov.label if ov else None,
            )
            states[st["key"]] = st
            counts[(funnel.key(j.id, j.version), f"{funnel.JOURNEY}:entered")] += 1
            counts[(funnel.key(j.id, j.version), f"{j.steps[0].id}:waiting")] += 1
            if ov is not None:
                exposures.append((ov, uid))
        if states:
            dueindex.put_hints(hub, [dueindex.make_hint(s, now) for s in states.values()], now)
            hub.store.put_docs_atomic(STATES, states)
            funnel.bump(hub, counts)
        for ov, uid in exposures:
            variants.log_exposure(hub, ov, uid, now)
    return skipped


# ---- advancing --------------------------------------------------------------------------------------------------


class _Batch:
    """Everything one page of due users changes, written together at the end (see module docstring)."""

    def __init__(self) -> None:
        self.new_hints: list[tuple[str, dict[str, Any]]] = []
        self.old_hints: list[tuple[str, str]] = []
        self.sends: list[dict[str, Any]] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.discard: list[str] = []
        self.counts: Counter[tuple[str, str]] = Counter()


def _history(state: dict[str, Any], step: str, at: datetime, outcome: str) -> None:
    hist = state.setdefault("history", [])
    hist.append({"step": step, "at": to_iso(at), "outcome": outcome})
    if len(hist) > HISTORY:
        del hist[: len(hist) - HISTORY]


def trigger_filters_hold(trigger: Trigger, user: dict[str, Any]) -> bool | None:
    """True/False when the user document answers the trigger's filters; None when a field is not set yet."""
    checks = []
    if trigger.source_channel is not None:
        checks.append((user.get("source_channel"), trigger.source_channel))
    if trigger.qr_code is not None:
        checks.append(((user.get("attributes") or {}).get("qr_code"), trigger.qr_code))
    if any(have is None for have, _ in checks):
        return None
    return all(have == want for have, want in checks)


def _finish(
    state: dict[str, Any], b: _Batch, fkey: str, step: str, status: str, reason: str | None, now: datetime
) -> None:
    state["status"], state["exit_reason"], state["due_at"] = status, reason, None
    metric = "completed" if status == "done" else "exited"
    b.counts[(fkey, f"{funnel.JOURNEY}:{metric}")] += 1
    if status == "exited":
        b.counts[(fkey, f"{step}:exited")] += 1
    _history(state, step, now, reason or status)


def _advance_one(
    hub: Hub, state: dict[str, Any], now: datetime, b: _Batch, rare: dict[str, list[dict[str, Any]]] | None = None
) -> None:
    """Move one due user as far as the journey allows right now; record what changed in ``b``."""
    jid = state["journey"]
    head = service.heads(hub).get(jid)
    defn = service.definition(hub, jid, state["version"])
    fkey = funnel.key(jid, state["version"])
    cur = state["step"]
    if head is not None and head.status == "paused":
        state["due_at"] = to_iso(now + PAUSE_RECHECK)
        return
    b.counts[(fkey, f"{cur}:waiting")] -= 1
    if head is None or head.status == "archived":
        _finish(state, b, fkey, cur, "exited", "journey archived", now)
        return
    facts = Facts(
        hub,
        state["user_id"],
        now,
        entered_at=state["entered_at"],
        entry_stage=state.get("entry_stage"),
        last_send=state.get("last_send"),
        rare=rare,
    )
    if state.get("tentative"):
        ok = trigger_filters_hold(defn.trigger, facts.user())
        if not ok or not all(holds(c, facts) for c in defn.trigger.only_if):
            b.discard.append(state["key"])
            return
        state["tentative"] = False
        b.counts[(fkey, f"{funnel.JOURNEY}:entered")] += 1
    tz = hub.settings.timezone
    for _hop in range(2 * len(defn.steps) + 2):
        step = defn.step(cur)
        b.counts[(fkey, f"{cur}:entered")] += 1
        hit = next((c for c in defn.exit if holds(c, facts)), None)
        if hit is not None:
            _finish(state, b, fkey, cur, "exited", f"exit: {describe(hit)}", now)
            return
        target = next((br.goto for br in step.branches if holds(br.when, facts)), None)
        if target is not None:
            b.counts[(fkey, f"{cur}:branched")] += 1
            if target == EXIT:
                _finish(state, b, fkey, cur, "exited", f"branch at {cur} → exit", now)
                return
            _history(state, cur, now, f"branch → {target}")
            nxt = target
        else:
            if step.condition is not None and not holds(step.condition, facts):
                b.counts[(fkey, f"{cur}:skipped")] += 1
                _history(state, cur, now, f"skipped: {describe(step.condition)} is false")
            elif step.sends:
                send = outbox.new_send(state, defn, step, now)
                b.sends.append(send)
                state["sends"] = int(state.get("sends", 0)) + 1
                state["last_send"] = send["key"]
                facts.last_send_key, facts._send = send["key"], send
                b.counts[(fkey, f"{cur}:queued")] += 1
                _history(state, cur, now, f"queued on {step.channel}")
            else:
                _history(state, cur, now, "passed")
            i = defn.index_of(cur)
            if i + 1 >= len(defn.steps):
                _finish(state, b, fkey, cur, "done", None, now)
                return
            nxt = defn.steps[i + 1].id
        due = due_after(defn.step(nxt).wait, now, tz)
        cur = nxt
        state["step"] = cur
        if due > now:
            state["due_at"] = to_iso(due)
            b.counts[(fkey, f"{cur}:waiting")] += 1
            return
    _finish(state, b, fkey, cur, "exited", "loop guard: too many steps without a wait", now)


def _process(hub: Hub, hints: list[dict[str, Any]], hint_bucket: str, now: datetime, res: AdvanceResult) -> None:
    b = _Batch()
    keys = list(dict.fromkeys(h["key"] for h in hints))
    states = hub.store.get_docs(STATES, keys)
    rare = prefetch_rare(hub, [(st["user_id"], st["entered_at"]) for st in states.values() if st["status"] == "active"])
    for h in hints:
        b.old_hints.append((hint_bucket, h["id"]))
        st = states.get(h["key"])
        if (
            st is None
            or st["status"] != "active"
            or st["run"] != h["run"]
            or st["due_at"] != h["due_at"]
            or st["key"] in b.states
        ):
            res.stale_hints += 1
            continue
        st = {**st, "history": list(st.get("history") or [])}
        one = _Batch()
        try:
            _advance_one(hub, st, now, one, rare)
        except Exception as exc:  # one broken user must not stop everyone else's journey
            log.exception("journey %s user %s: step failed", st["journey"], st["user_id"])
            st = {**states[h["key"]], "history": list(states[h["key"]].get("history") or [])}
            st["due_at"] = to_iso(now + ERROR_RETRY)
            _history(st, st["step"], now, f"error: {type(exc).__name__}: {exc}"[:200])
        else:
            b.sends += one.sends
            b.counts.update(one.counts)
            b.discard += one.discard
        if st["key"] in b.discard:
            continue
        st["updated_at"] = to_iso(now)
        b.states[st["key"]] = st
        res.processed += 1
        if st["status"] == "active":
            b.new_hints.append(dueindex.make_hint(st, now))
        elif st["status"] == "done":
            res.finished += 1
        else:
            res.exited += 1
    res.processed += len(b.discard)
    dueindex.put_hints(hub, b.new_hints, now)
    res.sends_queued += outbox.queue(hub, b.sends)
    if b.states or b.discard:
        hub.store.put_docs_atomic(STATES, b.states, delete=b.discard)
    rewritten = {(bk, h["id"]) for bk, h in b.new_hints}
    dueindex.delete_hints(hub, [h for h in b.old_hints if h not in rewritten])
    funnel.bump(hub, b.counts)


def _drain(hub: Hub, b: str, now: datetime, now_iso: str, limit: int, res: AdvanceResult) -> bool:
    """Process the due hints of one minute bucket; True when the bucket is left empty."""
    kept = 0
    while res.processed < limit:
        want = min(PAGE, limit - res.processed)
        page = hub.store.list_docs(dueindex.DUE_PREFIX + b, limit=want, offset=kept)
        due = [h for h in page if h["due_at"] <= now_iso]
        kept += len(page) - len(due)
        if due:
            _process(hub, due, b, now, res)
        if len(page) < want:
            return kept == 0
    return False  # stopped by the limit: the bucket may hold more


def advance_due(hub: Hub, now: datetime | None = None, limit: int = 5000) -> AdvanceResult:
    """Advance up to ``limit`` due users (the scheduler's one job). Safe to call from several
    processes: only the holder of the lease does anything."""
    t0 = time.perf_counter()
    now = now or service.clock(hub)
    res = AdvanceResult()
    holder = dueindex.acquire_lease(hub, now, timedelta(minutes=2))
    if holder is not None:
        res.lease = holder
        return res
    now_iso = to_iso(now)
    last = dueindex.minute(now)
    safe = dueindex.minute(now - dueindex.GRACE)
    stored = dueindex.read_cursor(hub)
    cursor = dueindex.parse(stored) if stored else last
    new_cursor = safe
    hour = cursor - cursor % 60
    while hour <= last:
        for b in dueindex.marked(hub, dueindex.name(hour)[:10]):
            m = dueindex.parse(b)
            if m < cursor or m > last:
                continue
            if res.processed >= limit:
                new_cursor = min(new_cursor, m)
                break
            if _drain(hub, b, now, now_iso, limit, res) and m < safe:
                dueindex.unmark(hub, b)
            else:
                new_cursor = min(new_cursor, m)
        if res.processed >= limit:
            break
        hour += 60
    new_cursor = max(new_cursor, cursor)
    if new_cursor != cursor:
        dueindex.write_cursor(hub, dueindex.name(new_cursor))
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


def run_until_idle(hub: Hub, now: datetime, *, batch: int = 5000, max_rounds: int = 1000) -> AdvanceResult:
    """Advance until nothing is due at ``now`` (simulations, tests, the CLI's --once)."""
    total = AdvanceResult()
    for _ in range(max_rounds):
        r = advance_due(hub, now, batch)
        for f in ("processed", "sends_queued", "finished", "exited", "stale_hints"):
            setattr(total, f, getattr(total, f) + getattr(r, f))
        total.seconds += r.seconds
        if r.lease or r.processed + r.stale_hints == 0:
            total.lease = r.lease
            break
    total.seconds = round(total.seconds, 4)
    return total
