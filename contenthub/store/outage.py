"""A store outage, whatever the backend, reaches callers as one error: ``StoreUnavailableError``.

Why at the store boundary: domain code must never catch Elasticsearch or sqlite3 exceptions (it does not
know which backend it has), and the HTTP layer must answer an outage with 503 + ``Retry-After`` in one
handler, not a 500 from wherever the client library's exception happened to surface. So each backend
names its outage exceptions in a ``classify`` function, and ``translate_outages`` wraps every public
method of the backend's class (its own and its mixins') (and every generator and coroutine it returns) to re-raise those as
``StoreUnavailableError``, with the original chained for the log. Everything else passes through
unchanged, so a backend's own control flow (409s, not-found) is untouched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from contenthub.errors import StoreUnavailableError
from contenthub.i18n import _

RETRY_AFTER_SECONDS = 2
"""What an outage tells callers to wait: long enough for a master election or a replica promotion to
finish on a small cluster, short enough that a bot retrying on it loses little when the store is back."""

log = logging.getLogger("contenthub.store")

Classify = Callable[[BaseException], str | None]
"""An exception → a short, safe reason when it is an outage (no hosts, no credentials), else None."""

C = TypeVar("C", bound=type)


def unavailable(backend: str, reason: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        _(
            "The store ({backend}) cannot answer right now: {reason}. Nothing is wrong with the request; send it again in {RETRY_AFTER_SECONDS} s (writes are safe to repeat)."
        ).format(backend=backend, reason=reason, RETRY_AFTER_SECONDS=RETRY_AFTER_SECONDS),
        extra={"retry_after": RETRY_AFTER_SECONDS},
    )


def _convert(backend: str, classify: Classify, exc: BaseException) -> StoreUnavailableError | None:
    if isinstance(exc, StoreUnavailableError):
        return None
    reason = classify(exc)
    if reason is None:
        return None
    log.warning("store outage (%s): %s: %s", backend, type(exc).__name__, exc)
    return unavailable(backend, reason)


@contextlib.contextmanager
def _translated(backend: str, classify: Classify) -> Iterator[None]:
    """The one rule of every wrapper below: an outage of the body leaves as ``StoreUnavailableError`` (the
    original chained), anything else as it was raised."""
    try:
        yield
    except Exception as exc:
        converted = _convert(backend, classify, exc)
        if converted is None:
            raise
        raise converted from exc


def _wrap(fn: Callable[..., Any], backend: str, classify: Classify) -> Callable[..., Any]:
    """A wrapper of the same kind as ``fn`` (a plain function, a generator function or a coroutine function),
    so the outage is caught where it happens: in the call, in the iteration or in the await."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _translated(backend, classify):
                yield from fn(*args, **kwargs)

        wrapped: Callable[..., Any] = gen_wrapper
    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _translated(backend, classify):
                return await fn(*args, **kwargs)

        wrapped = async_wrapper
    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _translated(backend, classify):
                return fn(*args, **kwargs)

        wrapped = wrapper
    wrapped.__outage_wrapped__ = True  # type: ignore[attr-defined]
    return wrapped


def translate_outages(backend: str, classify: Classify) -> Callable[[C], C]:
    """Class decorator: every public method of the store (and ``__init__``) re-raises an outage as
    ``StoreUnavailableError``. Private helpers are not wrapped: they run inside a public method."""

    def decorate(cls: C) -> C:
        for name in dir(cls):  # the class's own methods and those of its role mixins (store/sqlite/, …)
            attr = inspect.getattr_static(cls, name)
            if (
                (name.startswith("_") and name != "__init__")
                or not inspect.isfunction(attr)
                or getattr(attr, "__outage_wrapped__", False)
            ):
                continue
            setattr(cls, name, _wrap(attr, backend, classify))
        return cls

    return decorate
