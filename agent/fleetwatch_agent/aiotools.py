"""Small asyncio helpers shared by the agent's and the collector's loops."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True if ``stop`` was set."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def wait_any(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class Stopping:
    """Waits that end when the agent stops, in the task that waits: no task of their own."""

    # Each block is an asyncio.timeout with no deadline, moved to now by ``fire``: asyncio then cancels
    # the block's task and ends the block with TimeoutError, counting the cancellation and withdrawing
    # it as it does for any timeout (an outer timeout or cancellation still works). Waiting for the
    # awaitable or the stop event instead cost two tasks and four turns of the loop per wait.

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._blocks: set[asyncio.Timeout] = set()

    def fire(self) -> None:
        """End every block under way now (call it once ``stop`` is set)."""
        now = asyncio.get_running_loop().time()
        for block in self._blocks:
            block.reschedule(now)

    async def unless(self, awaitable: Awaitable[T]) -> T | None:
        """Await ``awaitable`` unless stopping first (before it or while it runs): then None."""
        if self._stop.is_set():
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never started: no "never awaited" warning
            return None
        block = asyncio.timeout(None)
        try:
            async with block:
                self._blocks.add(block)
                return await awaitable
        except TimeoutError:
            if block.expired():
                return None
            raise
        finally:
            self._blocks.discard(block)
