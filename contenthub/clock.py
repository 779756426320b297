"""The hub's "now": one injectable source of the current instant (the planner, the library's seasonal check).

Why a function of its own: "never plan into the past" and "past days are read-only" depend on the
current time, so routes and pages take it as a dependency and services take it as a parameter — nothing
reads the wall clock deep inside a rule. The app adds routers' routes directly (app._add_routes), which
bypasses ``app.dependency_overrides``, so the instant is pinned on the hub instead: ``pin(hub, when)``
(tests, demos, the screenshots in bench/RESULTS.md) and ``pin(hub, None)`` to follow the wall clock again.
"""

from __future__ import annotations

from datetime import datetime

from contenthub.deps import HubDep
from contenthub.hub import Hub
from contenthub.timeutil import to_utc, utcnow

PINNED = "clock_pinned"


def pin(hub: Hub, when: datetime | None) -> None:
    """Make `now` answer `when` for this hub (None: the wall clock). Naive instants are UTC (timeutil)."""
    if when is None:
        hub.cache.pop(PINNED, None)
    else:
        hub.cache[PINNED] = to_utc(when)


def current(hub: Hub) -> datetime:
    """The hub's current instant, aware and in UTC."""
    pinned = hub.cache.get(PINNED)
    return pinned if pinned is not None else utcnow()


def now(hub: HubDep) -> datetime:
    """FastAPI dependency: the hub's current instant (see `current`)."""
    return current(hub)
