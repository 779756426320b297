"""The scheduler loop: advance due users, run the trigger sweeps, close expired sends — every N seconds.

Runs in-process for the embedded default (a daemon thread started by the app when
``journeys_loop_seconds`` > 0) or as ``contenthub journeys run``. Any number may run: the lease in
dueindex.py lets one advance at a time, the others skip their tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from contenthub.hub import Hub
from contenthub.journeys import dueindex, engine, outbox, service, triggers
from contenthub.journeys.models import AdvanceResult

log = logging.getLogger(__name__)

TICK_ROUNDS = 20
"""Pages of at most ``engine`` batch size per tick, so one tick never runs unbounded."""
OUTBOX_SWEEP = timedelta(minutes=10)


def tick(hub: Hub, now: datetime | None = None, *, batch: int = 5000) -> AdvanceResult:
    now = now or service.clock(hub)
    res = engine.run_until_idle(hub, now, batch=batch, max_rounds=TICK_ROUNDS)
    if res.lease:
        return res
    res.enrolled += triggers.sweep_groups(hub, now)
    res.enrolled += triggers.sweep_users(hub, now)
    last = hub.cache.get("journey_outbox_swept")
    if last is None or now - last >= OUTBOX_SWEEP:
        outbox.sweep_expired(hub, now)
        hub.cache["journey_outbox_swept"] = now
    return res


def run_forever(
    hub: Hub, interval: float, stop: threading.Event, on_tick: Callable[[AdvanceResult], None] | None = None
) -> None:
    """Tick until ``stop`` is set; then hand the lease back so another scheduler takes over at once."""
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                res = tick(hub)
                if on_tick is not None:
                    on_tick(res)
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("journeys tick failed")
            stop.wait(max(interval - (time.monotonic() - started), 0.0))
    finally:
        try:
            dueindex.release_lease(hub)
        except Exception:
            log.exception("could not release the journeys scheduler lease")


def start_background(hub: Hub, interval: float) -> Callable[[], None]:
    """Start the loop in a daemon thread; returns a function that stops it (waits for the tick to end)."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(hub, interval, stop), name="journeys-scheduler", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=30)

    return halt
