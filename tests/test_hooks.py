"""The hook registry: emitters announce, subscribers react; recommend/ and audience/ import nothing of journeys/."""

from __future__ import annotations

import grimp

from contenthub.audience import users
from contenthub.audience.models import Identity
from contenthub.hooks import EventsStored, Hooks, IdentityLinked, UserCreated
from contenthub.hub import Hub
from contenthub.journeys import triggers
from contenthub.recommend import learning


def test_handlers_run_in_subscription_order_once_each_and_only_for_their_type() -> None:
    hooks = Hooks()
    seen: list[str] = []

    def first(e: UserCreated) -> None:
        seen.append(f"first:{e.user_id}")

    hooks.subscribe(UserCreated, first)
    hooks.subscribe(UserCreated, lambda e: seen.append(f"second:{e.user_id}"))
    hooks.subscribe(UserCreated, first)  # subscribing twice does not run it twice
    hooks.emit(UserCreated(hub=None, user_id="u1"))  # type: ignore[arg-type]
    hooks.emit(IdentityLinked(hub=None, user_id="u1", identity_type="openid"))  # type: ignore[arg-type]
    assert seen == ["first:u1", "second:u1"]


def test_an_opened_hub_wires_journeys_and_learning(hub: Hub) -> None:
    handlers = hub.hooks._handlers
    assert handlers[EventsStored] == [triggers.on_events_stored, learning._on_events_stored]
    assert handlers[UserCreated] == [triggers.on_user_created]
    assert handlers[IdentityLinked] == [triggers.on_identity_linked]


def test_the_users_service_announces_new_users_and_identities(hub: Hub) -> None:
    seen: list[object] = []
    hub.hooks.subscribe(UserCreated, seen.append)
    hub.hooks.subscribe(IdentityLinked, seen.append)
    uid = users.resolve_identity(hub, Identity(type="openid", value="o-hooks-1"), at="2026-01-02T03:04:05Z")
    assert uid is not None
    assert seen == [
        UserCreated(hub, uid, "2026-01-02T03:04:05Z"),
        IdentityLinked(hub, uid, "openid", "2026-01-02T03:04:05Z"),
    ]
    seen.clear()
    users.link_identity(hub, uid, Identity(type="unionid", value="un-hooks-1"))
    assert seen == [IdentityLinked(hub, uid, "unionid", None)]


def test_recommend_and_audience_import_nothing_of_journeys_and_audience_nothing_above_it() -> None:
    graph = grimp.build_graph("contenthub")
    forbidden = [(p, "contenthub.journeys") for p in ("contenthub.recommend", "contenthub.hooks", "contenthub.hub")]
    forbidden += [
        ("contenthub.audience", p)
        for p in ("contenthub.recommend", "contenthub.journeys", "contenthub.publish", "contenthub.experiments")
    ]
    for importer, imported in forbidden:
        chain = graph.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
        assert chain is None, f"{importer} reaches {imported}: {' -> '.join(chain or ())}"
