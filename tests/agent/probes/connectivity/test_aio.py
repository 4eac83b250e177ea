"""The checks' event-loop runner: a value or the coroutine's exception, and nothing left running after it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from fleetwatch_agent.probes.connectivity import aio


def test_run_returns_the_coroutines_value_on_a_selector_loop_it_closes() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def check() -> int:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return 42

    assert aio.run(check()) == 42
    assert isinstance(loops[0], asyncio.SelectorEventLoop)
    assert loops[0].is_closed()
    assert aio.run(check()) == 42 and loops[1] is not loops[0]  # a fresh loop each run


def test_run_raises_the_coroutines_exception() -> None:
    async def check() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError, match="refused"):
        aio.run(check())


def test_tasks_left_behind_are_cancelled_and_their_cleanup_runs() -> None:
    cleaned: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(name)

    async def check() -> str:
        asyncio.get_running_loop().create_task(forever("a"))
        asyncio.get_running_loop().create_task(forever("b"))
        await asyncio.sleep(0)  # both started
        return "done"

    assert aio.run(check()) == "done"
    assert sorted(cleaned) == ["a", "b"]


def test_tasks_left_behind_by_a_failing_check_are_cancelled_too() -> None:
    cleaned: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append("x")

    async def check() -> None:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        aio.run(check())
    assert cleaned == ["x"]


def test_a_kept_loop_serves_run_after_run_until_closed() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    cleaned: list[int] = []

    async def forever(run: int) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(run)

    async def check(run: int) -> int:
        loops.append(asyncio.get_running_loop())
        asyncio.get_running_loop().create_task(forever(run))
        await asyncio.sleep(0)
        return run

    kept = aio.Loop()
    assert [kept.run(check(i)) for i in range(3)] == [0, 1, 2]
    assert loops[0] is loops[1] is loops[2] and not loops[0].is_closed()
    assert isinstance(loops[0], asyncio.SelectorEventLoop)
    assert cleaned == [0, 1, 2]  # what each run left was cancelled at its end, not at the next run
    kept.close()
    assert loops[0].is_closed()
    assert kept.run(check(3)) == 3 and loops[3] is not loops[0]  # a run after close opens a new loop
    kept.close()


def test_readable_gives_up_at_its_timeout_and_leaves_nothing_watched() -> None:
    left, right = socket.socketpair()

    async def check() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        quiet = await aio.readable(left, 0.02)
        still_watched = loop.remove_reader(left.fileno())  # False: the timed-out wait removed its reader
        right.send(b"x")
        ready = await aio.readable(left, 1.0)
        return quiet, still_watched, ready

    with left, right:
        assert aio.Loop().run(check()) == (False, False, True)
