"""The checks' event-loop runner: a value or the coroutine's exception, and nothing left running after it."""

from __future__ import annotations

import asyncio

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
