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
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from contenthub.access import keys, sessions
from contenthub.access.keys import Principal
from contenthub.access.ratelimit import RateLimiter, retry_after_header
from contenthub.access.roles import Perm, allows
from contenthub.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from contenthub.hub import Hub
from contenthub.i18n import _


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
            _(
                "Too many requests for key '{name}': the limit is {rate_limit_per_minute} per minute. Retry in {retry_after_header} s."
            ).format(
                name=principal.name,
                rate_limit_per_minute=hub.settings.rate_limit_per_minute,
                retry_after_header=retry_after_header(wait),
            ),
            extra={"retry_after": retry_after_header(wait)},
        )


def _session_principal(hub: Hub, session: dict[str, object]) -> Principal | None:
    return sessions.principal_of(hub.store, str(session.get("sid") or ""))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_CHANGING_PARAMS = ("reserve",)
"""Query parameters that make a GET change data (``reserve`` takes a cap slot): such requests need a key."""


def changes_state_via_api(path: str, method: str, query: Any) -> bool:
    """Whether a request to the API writes: any method but GET/HEAD/OPTIONS, or a GET that names a
    state-changing parameter. Console sessions are refused for these (a browser sends the cookie with
    requests other sites make it send); console forms post to page routes that check a CSRF token."""
    if not path.startswith("/v1/"):
        return False
    return method not in SAFE_METHODS or any(name in query for name in STATE_CHANGING_PARAMS)


def _failures(hub: Hub) -> RateLimiter:
    limiter = hub.cache.get("auth_failures")
    if limiter is None:
        share = max(hub.settings.failed_auth_per_minute // hub.settings.server_workers, 1)
        limiter = hub.cache.setdefault("auth_failures", RateLimiter(share))
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_failed_auth(hub: Hub, address: str) -> None:
    """429 while ``address`` has used up its failed authentications (``Settings.failed_auth_per_minute``):
    guessing keys or console sign-ins from one address is slowed to a crawl, valid keys elsewhere are not."""
    wait = _failures(hub).waiting(address)
    if wait > 0:
        raise RateLimitedError(
            _(
                "Too many failed authentications from this address: the limit is {failed_auth_per_minute} per minute. Retry in {retry_after_header} s."
            ).format(
                failed_auth_per_minute=hub.settings.failed_auth_per_minute, retry_after_header=retry_after_header(wait)
            ),
            extra={"retry_after": retry_after_header(wait)},
        )


def note_failed_auth(hub: Hub, address: str) -> None:
    _failures(hub).hit(address)


async def principal_for_key(hub: Hub, raw: str, address: str = "unknown") -> Principal:
    """The principal of an API key (cached; a miss reads the store in the threadpool), or 401 (429 after
    too many failures from ``address``)."""
    digest = keys.cache_key(raw)
    principal = keys.cached_principal(hub.store, digest)
    if principal is None:
        check_failed_auth(hub, address)
        principal = await run_in_threadpool(keys.verify_and_remember, hub.store, raw, digest)
        if principal is None:
            note_failed_auth(hub, address)
            raise UnauthorizedError(
                _("The API key is wrong or revoked. Send a valid key as 'Authorization: Bearer <key>'.")
            )
    return principal


async def current_principal(request: Request, hub: HubDep) -> Principal | None:
    state = request.scope.setdefault("state", {})  # what request.state holds
    cached = state.get("principal")
    if cached is not None:
        return cached
    raw = _key_from_headers(request)
    principal: Principal | None = None
    if raw is not None:
        principal = await principal_for_key(hub, raw, client_address(request))
    elif "session" in request.scope and request.session.get("sid"):
        if changes_state_via_api(request.scope["path"], request.method, request.query_params):
            raise ForbiddenError(
                _(
                    "The console's session cannot change data through /v1: send an API key as 'Authorization: Bearer <key>' (console forms post to their own pages, with a CSRF token). Session cookies are refused here so that another page cannot act for a signed-in editor."
                )
            )
        principal = await run_in_threadpool(_session_principal, hub, request.session)
        if principal is None:
            request.session.clear()
    if principal is not None:
        check_rate(hub, principal)
    state["principal"] = principal
    return principal


def authorized(request: Request, principal: Principal | None, perm: Perm) -> Principal:
    """``principal`` when its role has ``perm``; else 401 (API) or the login page (pages), or 403."""
    if principal is None:
        if request.url.path.startswith("/v1/"):
            raise UnauthorizedError(
                _(
                    "An API key is required. Send it as 'Authorization: Bearer <key>' (create one with `contenthub keys create --role editor`)."
                )
            )
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if not allows(principal.role, perm):
        raise ForbiddenError(
            _("Role '{value}' may not do this (needs '{value2}').").format(
                value=principal.role.value, value2=perm.value
            ),
            extra={"role": principal.role.value, "needs": perm.value},
        )
    return principal


def require(perm: Perm) -> Callable[..., Awaitable[Principal]]:
    async def dep(request: Request, principal: Annotated[Principal | None, Depends(current_principal)]) -> Principal:
        return authorized(request, principal, perm)

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
        raise ForbiddenError(
            _("The form expired or did not come from this site. Reload the page and try again."), field="csrf_token"
        )
