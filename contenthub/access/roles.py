"""The role × permission matrix in one table, so a reader (and a test) can see every grant at once."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    bot = "bot"
    viewer = "viewer"


class Perm(StrEnum):
    library_read = "library:read"
    library_write = "library:write"
    taxonomy_write = "taxonomy:write"
    recommend_read = "recommend:read"
    events_write = "events:write"
    audience_read = "audience:read"
    audience_write = "audience:write"
    plans_read = "plans:read"
    plans_write = "plans:write"
    reports_read = "reports:read"
    experiments_write = "experiments:write"
    admin = "admin"


MATRIX: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.editor: frozenset(
        {
            Perm.library_read,
            Perm.library_write,
            Perm.taxonomy_write,
            Perm.recommend_read,
            Perm.audience_read,
            Perm.audience_write,
            Perm.plans_read,
            Perm.plans_write,
            Perm.reports_read,
            Perm.experiments_write,
            Perm.events_write,
        }
    ),
    # Bots read recommendations and due sends and post events; nothing else (least privilege).
    Role.bot: frozenset({Perm.recommend_read, Perm.events_write, Perm.plans_read}),
    Role.viewer: frozenset({Perm.library_read, Perm.audience_read, Perm.plans_read, Perm.reports_read}),
}


def allows(role: Role | str, perm: Perm) -> bool:
    return perm in MATRIX[Role(role)]
