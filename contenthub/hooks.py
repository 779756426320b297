"""Hooks: the audience and the recommender announce what happened; features that react subscribe.

Why: journeys enrol users when events arrive and when users or identities appear, and learning refits after
enough new events. When ingestion and the users service called those features directly, recommend/ and
audience/ imported journeys/, which imports them back — a cycle that forced imports into function bodies.
Now the emitters know only this module and its event types; the subscribers know their emitters' events.

Subscribers are wired when a hub opens (``install``, called by ``open_hub``): every hub of the process — the
app's, the CLI's, a test's — reacts the same way. ``SUBSCRIBERS`` names the modules by dotted path, like
Django's ``INSTALLED_APPS``, so this module (imported by ``hub``) depends on none of them.

Handlers run in subscription order, synchronously, after the data was stored; a handler that must not fail
the request (journeys) guards itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from contenthub.hub import Hub

SUBSCRIBERS = ("contenthub.journeys.triggers", "contenthub.recommend.learning")
"""Modules with a ``subscribe(hooks)`` function, wired in this order when a hub opens."""


@dataclass(frozen=True)
class EventsStored:
    """A batch of events was ingested; ``inserted`` holds the ids stored for the first time (not duplicates)."""

    hub: Hub
    rows: list[dict[str, Any]]
    inserted: list[str]


@dataclass(frozen=True)
class UserCreated:
    """A user was created: from an event, an identity, or the users API. ``at``: when, as an ISO instant."""

    hub: Hub
    user_id: str
    at: str | None = None


@dataclass(frozen=True)
class IdentityLinked:
    """An identity (openid, external_userid, phone …) was linked to a user for the first time."""

    hub: Hub
    user_id: str
    identity_type: str
    at: str | None = None


E = TypeVar("E")


@dataclass
class Hooks:
    """One hub's subscriptions: event type → handlers, in subscription order."""

    _handlers: dict[type, list[Callable[[Any], None]]] = field(default_factory=dict)

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call ``handler`` with every ``kind`` event emitted from now on (once, however often subscribed)."""
        handlers = self._handlers.setdefault(kind, [])
        if handler not in handlers:
            handlers.append(handler)

    def emit(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            handler(event)


class Subscriber(Protocol):
    def subscribe(self, hooks: Hooks) -> None: ...


def install(hooks: Hooks, modules: tuple[str, ...] = SUBSCRIBERS) -> None:
    """Wire the subscriber modules into ``hooks`` (``open_hub`` does this for every hub)."""
    for name in modules:
        module: Subscriber = importlib.import_module(name)  # type: ignore[assignment]
        module.subscribe(hooks)
