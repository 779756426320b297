"""Shared FastAPI dependencies: the hub, the caller's identity and role, and CSRF for forms.

Injected rather than imported as globals (FastAPI template habit) so tests swap the hub without
monkeypatching, and every route states the permission it needs in its signature.

Why ``async def``: FastAPI runs every sync dependency in the threadpool, one hop each per request. These
run on the event loop and do no I/O on the hot path: an API key is checked against the in-memory cache
of verified keys (``access.keys``, revocation at once in this process, within ``KEY_CACHE_TTL`` in
others); only a cache miss or a console session reads the store, and that read goes to the threadpool.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from contenthub.access import keys
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, Role, allows
from contenthub.access.ratelimit import RateLimiter, retry_after_header
from contenthub.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from contenthub.hub import Hub


class LoginRequired(Exception):
    """Raised for page routes: the app turns it into a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def _key_from_headers(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _limiter(hub: Hub) -> RateLimiter:
    limiter = hub.cache.get("rate_limiter")
    if limiter is None:
        # Buckets live in each worker process; each takes its share, so a key's total stays within the limit.
        share = max(hub.settings.rate_limit_per_minute // hub.settings.server_workers, 1)
        limiter = hub.cache.setdefault("rate_limiter", RateLimiter(share))
    return limiter


def check_rate(hub: Hub, principal: Principal) -> None:
    wait = _limiter(hub).hit(principal.key_id)
    if wait > 0:
        raise RateLimitedError(
            f"Too many requests for key '{principal.name}': the limit is {hub.settings.rate_limit_per_minute} "
            f"per minute. Retry in {retry_after_header(wait)} s.",
            extra={"retry_after": retry_after_header(wait)},
        )


def _session_principal(hub: Hub, session: dict[str, object]) -> Principal | None:
    doc = hub.store.get_doc(keys.COLLECTION, str(session["key_id"]))
    # A revoked (or rotated) key ends its console sessions at once.
    if doc and not doc.get("revoked_at") and doc.get("hash") == session.get("key_hash"):
        return Principal(key_id=doc["id"], name=doc["name"], role=Role(doc["role"]), via="session")
    return None


async def principal_for_key(hub: Hub, raw: str) -> Principal:
    """The principal of an API key (cached; a miss reads the store in the threadpool), or 401."""
    digest = keys.cache_key(raw)
    principal = keys.cached_principal(hub.store, digest)
    if principal is None:
        principal = await run_in_threadpool(keys.verify_and_remember, hub.store, raw, digest)
        if principal is None:
            raise UnauthorizedError("The API key is wrong or revoked. Send a valid key as 'Authorization: Bearer <key>'.")
    return principal


async def current_principal(request: Request, hub: HubDep) -> Principal | None:
    state = request.scope.setdefault("state", {})  # what request.state holds
    cached = state.get("principal")
    if cached is not None:
        return cached
    raw = _key_from_headers(request)
    principal: Principal | None = None
    if raw is not None:
        principal = await principal_for_key(hub, raw)
    elif "session" in request.scope and request.session.get("key_id"):
        principal = await run_in_threadpool(_session_principal, hub, request.session)
        if principal is None:
            request.session.clear()
    if principal is not None:
        check_rate(hub, principal)
    state["principal"] = principal
    return principal


def require(perm: Perm) -> Callable[..., Awaitable[Principal]]:
    async def dep(request: Request, principal: Annotated[Principal | None, Depends(current_principal)]) -> Principal:
        if principal is None:
            if request.url.path.startswith("/v1/"):
                raise UnauthorizedError(
                    "An API key is required. Send it as 'Authorization: Bearer <key>' "
                    "(create one with `contenthub keys create --role editor`)."
                )
            raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        if not allows(principal.role, perm):
            raise ForbiddenError(
                f"Role '{principal.role.value}' may not do this (needs '{perm.value}').",
                extra={"role": principal.role.value, "needs": perm.value},
            )
        return principal

    dep.__name__ = f"require_{perm.name}"
    return dep


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise ForbiddenError("The form expired or did not come from this site. Reload the page and try again.",
                             field="csrf_token")
