"""The Elasticsearch store's reads written once as steps (``client.Steps``) and run by either client: the
sync one on the calling thread (``_drive``), the async one on the event loop (``_drive_async``). Both
must apply the same rules — a shard still starting is waited for and asked again, anything else is
raised — so these drive the same steps through both, with scripted clients (no node needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import NotFoundError as ESNotFound

from contenthub.store.elastic.client import ElasticBase, Steps
from contenthub.store.es_docs import StoreError


def _api_error(status: int, kind: str, cls: type[ApiError] = ApiError) -> ApiError:
    meta = ApiResponseMeta(
        status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0, node=NodeConfig("http", "h", 9200)
    )
    return cls(kind, meta, {"error": {"type": kind}})


class Scripted:
    """A client whose ``mget`` gives the scripted answers (or raises them) in turn."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0

    def mget(self, **request: Any) -> Any:
        answer = self.answers[self.asked]
        self.asked += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


class AsyncScripted(Scripted):
    async def mget(self, **request: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)  # gives the loop a turn, as a request to the node does
        return Scripted.mget(self, **request)


class Schema:
    def __init__(self) -> None:
        self.waited: list[str] = []

    def wait_ready(self, kind: str) -> None:
        self.waited.append(kind)


class Base(ElasticBase):
    """Just what the steps use: a client of each kind, the schema and index aliases."""

    def __init__(self, answers: list[Any]) -> None:
        self.es = Scripted(answers)  # type: ignore[assignment]
        self.aes = AsyncScripted(list(answers))
        self.schema = Schema()  # type: ignore[assignment]

    async def _async_es(self) -> Any:
        return self.aes

    def _alias(self, kind: str) -> str:
        return kind


def _both(answers: list[Any], steps: Callable[[Base], Steps[Any]]) -> list[tuple[Any, Base]]:
    """The outcome (answer or exception) of ``steps`` run by the sync driver and by the async one."""
    out: list[tuple[Any, Base]] = []
    for run in (lambda b: b._drive(steps(b)), lambda b: asyncio.run(b._drive_async(steps(b)))):
        base = Base(answers)
        try:
            out.append((run(base), base))
        except Exception as exc:  # noqa: BLE001 - the outcome compared
            out.append((exc, base))
    return out


DOC = {"_id": "d1", "found": True, "_source": {"a": 1}, "_seq_no": 1, "_primary_term": 1}
STARTING = {"_id": "d1", "error": {"type": "no_shard_available_action_exception"}}


def test_an_answer_is_read_at_once() -> None:
    for got, base in _both([{"docs": [DOC]}], lambda b: b._mget_chunk_steps("docs", index="docs", ids=["d1"])):
        assert got == [DOC]
        assert base.schema.waited == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "first", [_api_error(503, "unavailable_shards_exception"), {"docs": [STARTING]}], ids=["503", "item"]
)
def test_a_shard_still_starting_is_waited_for_and_asked_again(first: Any) -> None:
    for got, base in _both([first, {"docs": [DOC]}], lambda b: b._mget_chunk_steps(["docs", "counters"], docs=[])):
        assert got == [DOC]
        assert base.schema.waited == ["docs", "counters"]  # type: ignore[attr-defined]


def test_a_missing_index_reads_as_not_found_and_other_errors_are_raised() -> None:
    missing = _api_error(404, "index_not_found_exception", ESNotFound)
    for got, _base in _both([missing], lambda b: b._mget_chunk_steps("docs", index="docs", ids=["a", "b"])):
        assert got == [{"found": False}, {"found": False}]
    for got, _base in _both([_api_error(400, "parse_exception")], lambda b: b._mget_chunk_steps("docs", docs=[])):
        assert isinstance(got, ApiError) and got.meta.status == 400
    still = {"docs": [STARTING]}
    for got, base in _both([still, still], lambda b: b._mget_chunk_steps("docs", docs=[])):
        assert isinstance(got, StoreError), "a shard that never starts is an error, never 'missing'"
        assert base.schema.waited == ["docs"]  # type: ignore[attr-defined]


def test_awaited_reads_overlap_on_one_loop() -> None:
    """What the async driver is for: while one read waits for the node, the loop runs another."""
    order: list[str] = []

    class Slow(AsyncScripted):
        async def mget(self, **request: Any) -> Any:  # type: ignore[override]
            order.append(f"asked {request['ids'][0]}")
            await asyncio.sleep(0.01)
            order.append(f"answered {request['ids'][0]}")
            return {"docs": [DOC]}

    async def main() -> None:
        base = Base([])
        base.aes = Slow([])
        await asyncio.gather(
            *(base._drive_async(base._mget_chunk_steps("docs", index="docs", ids=[k])) for k in ("a", "b"))
        )

    asyncio.run(main())
    assert order[:2] == ["asked a", "asked b"], order
