"""Keep the cyclic garbage collector's full collections short in a serving process.

Why: a worker holds ~100,000 long-lived container objects once it has built its catalog view (numpy,
scipy and the app's own modules already account for half), and CPython's full collection walks every one
of them with the GIL held, so every request queued on that worker waits it out. Under load the 25% growth
rule starts one every few seconds, which shows as a p99 of next content well above its median (figures: bench/RESULTS.md, "Figures behind design choices").

``gc.freeze()`` (the standard remedy for pre-loaded servers) moves everything alive to a generation the
collector never walks; reference counting still frees those objects, only reference cycles among them
wait for the next ``unfreeze``. A thread here collects and freezes every SETTLE_EVERY seconds (cheap:
only what was created since the last freeze is walked), and every FULL_EVERY seconds unfreezes first, so
cycles that became garbage among frozen objects are reclaimed (one full collection every ten minutes).
Only ``contenthub.asgi`` (the serving entry point) starts it; tests and CLI commands keep Python's
default behaviour.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

SETTLE_EVERY = 10.0
FULL_EVERY = 600.0

_started = threading.Lock()
_thread: threading.Thread | None = None


def settle(*, full: bool = False) -> float:
    """Collect what is not frozen (everything, when ``full``) and freeze the survivors; the pause, in ms."""
    started = time.perf_counter()
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return (time.perf_counter() - started) * 1000


def _run(every: float, full_every: float) -> None:
    last_full = time.monotonic()
    while True:
        time.sleep(every)
        full = time.monotonic() - last_full >= full_every
        if full:
            last_full = time.monotonic()
        pause_ms = settle(full=full)
        if pause_ms > 20:
            log.info("gc settle (full=%s) paused %.0f ms; %d objects frozen", full, pause_ms, gc.get_freeze_count())


def start(every: float = SETTLE_EVERY, full_every: float = FULL_EVERY) -> None:
    """Start the settling thread of this process (once; later calls do nothing)."""
    global _thread
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_run, args=(every, full_every), name="gc-settle", daemon=True)
            _thread.start()
