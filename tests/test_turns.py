"""recommend.turns: inline computations run in arrival order, one per event-loop iteration, each on its own
loop; errors reach the waiting request and a request that went away is skipped."""

from __future__ import annotations

import asyncio
import threading

import pytest

from contenthub.recommend import turns


def test_in_arrival_order_with_the_loop_running_in_between() -> None:
    order: list[str] = []

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()

        def job(name: str) -> str:
            order.append(name)
            loop.call_soon(order.append, f"io after {name}")  # what a socket read would queue
            return name

        return await asyncio.gather(*(turns.in_turn(lambda n=n: job(n)) for n in ("a", "b", "c")))

    assert asyncio.run(main()) == ["a", "b", "c"]
    # Each computation lets the callbacks queued meanwhile run before the next one starts.
    assert order[:4] == ["a", "io after a", "b", "io after b"]
    assert order[4] == "c"


def test_errors_go_to_their_caller_and_the_queue_goes_on() -> None:
    async def main() -> tuple[object, str]:
        def boom() -> str:
            raise ValueError("bad user")

        bad, good = await asyncio.gather(turns.in_turn(boom), turns.in_turn(lambda: "ok"), return_exceptions=True)
        return bad, good

    bad, good = asyncio.run(main())
    assert isinstance(bad, ValueError) and str(bad) == "bad user"
    assert good == "ok"


def test_a_cancelled_request_is_not_computed() -> None:
    ran: list[str] = []

    async def main() -> str:
        first = asyncio.ensure_future(turns.in_turn(lambda: ran.append("first") or "first"))
        gone = asyncio.ensure_future(turns.in_turn(lambda: ran.append("gone") or "gone"))
        last = asyncio.ensure_future(turns.in_turn(lambda: ran.append("last") or "last"))
        await asyncio.sleep(0)  # all three queued
        gone.cancel()
        await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await turns.in_turn(lambda: "again")  # the runner started again for a later request

    assert asyncio.run(main()) == "again"
    assert ran == ["first", "last"]


def test_each_event_loop_has_its_own_queue() -> None:
    results: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        async def main() -> list[int]:
            barrier.wait()
            return list(await asyncio.gather(*(turns.in_turn(lambda i=i: i) for i in range(50))))

        results[name] = asyncio.run(main())

    threads = [threading.Thread(target=run, args=(name,)) for name in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"x": list(range(50)), "y": list(range(50))}
