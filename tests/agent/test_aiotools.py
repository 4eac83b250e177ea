"""Stopping: waits that end when the agent stops, in the waiting task, with asyncio's timeouts intact."""

from __future__ import annotations

import asyncio

import pytest

from fleetwatch_agent.aiotools import Stopping


def test_the_awaitables_value_when_not_stopping() -> None:
    async def main() -> int | None:
        stopping = Stopping(asyncio.Event())

        async def work() -> int:
            await asyncio.sleep(0.01)
            return 7

        return await stopping.unless(work())

    assert asyncio.run(main()) == 7


def test_stopping_while_it_runs_cancels_the_work_and_gives_none() -> None:
    seen: list[str] = []

    async def main() -> tuple[int | None, bool]:
        stop = asyncio.Event()
        stopping = Stopping(stop)

        async def work() -> int:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            return 1

        async def stopper() -> None:
            await asyncio.sleep(0.02)
            stop.set()
            stopping.fire()

        asyncio.get_running_loop().create_task(stopper())
        result = await stopping.unless(work())
        # The task that waited is not left cancelled: it goes on (its own later waits still work).
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)
        return result, task.cancelling() == 0

    assert asyncio.run(main()) == (None, True)
    assert seen == ["cancelled"]


def test_already_stopped_never_starts_the_work() -> None:
    started: list[int] = []

    async def main() -> int | None:
        stop = asyncio.Event()
        stop.set()

        async def work() -> int:
            started.append(1)
            return 1

        return await Stopping(stop).unless(work())

    assert asyncio.run(main()) is None
    assert started == []


def test_a_timeout_error_of_the_work_itself_is_raised_not_taken_for_stopping() -> None:
    async def main() -> None:
        stopping = Stopping(asyncio.Event())

        async def work() -> int:
            raise TimeoutError("no answer from the collector")

        await stopping.unless(work())

    with pytest.raises(TimeoutError, match="no answer from the collector"):
        asyncio.run(main())


def test_an_outer_timeout_still_fires_through_a_stoppable_wait() -> None:
    async def main() -> str:
        stopping = Stopping(asyncio.Event())
        try:
            async with asyncio.timeout(0.02):
                await stopping.unless(asyncio.sleep(3600))
        except TimeoutError:
            return "outer timeout"
        return "no timeout"

    assert asyncio.run(main()) == "outer timeout"


def test_fire_ends_every_block_under_way_and_only_those() -> None:
    async def main() -> list[int | None]:
        stop = asyncio.Event()
        stopping = Stopping(stop)

        async def waits(value: int) -> int | None:
            return await stopping.unless(asyncio.sleep(3600, value))

        tasks = [asyncio.ensure_future(waits(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        stop.set()
        stopping.fire()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == [None, None, None]
