"""Asyncio helpers of the checks: selector loops to run them on, socket readiness, a bounded connect."""
# Every check is a coroutine run on a selector event loop (also on Windows, where the default proactor loop
# cannot watch raw sockets). Nothing here uses the loop's default executor: a blocked thread there would be
# joined when the loop closes, so a check could outlive its deadline.

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# connect_ex() on a non-blocking socket: the handshake is under way (WSAEWOULDBLOCK on Windows).
IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 10035})


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end on a new selector event loop, closed afterwards (tasks it left
    cancelled first)."""
    # Not asyncio.Runner: its signal handling and its shutdowns of async generators and of the default
    # executor, none of which the checks use, were a third of a connectivity run's CPU.
    loop = asyncio.SelectorEventLoop()
    try:
        return _run_on(loop, coroutine)
    finally:
        loop.close()


class Loop:
    """One selector event loop for many runs, one at a time: a probe's checks, cycle after cycle."""

    # A new loop (its selector, its self-pipe) cost as much CPU as the checks of a loopback TCP target.

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to its end (tasks it left cancelled afterwards) on this loop."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.SelectorEventLoop()
        return _run_on(self._loop, coroutine)

    def close(self) -> None:
        """Close the loop; a later run opens a new one."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def _run_on(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return loop.run_until_complete(coroutine)
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


def now() -> float:
    """Monotonic seconds, the clock of every deadline (the event loop's clock too)."""
    return time.monotonic()


def left(deadline: float) -> float:
    """Seconds until ``deadline``, never negative."""
    return max(0.0, deadline - time.monotonic())


async def _ready(sock: socket.socket, timeout: float, write: bool) -> bool:
    # A future and a timer, not asyncio.wait_for: that waits through a future of its own, one more turn of
    # the loop for every connect and every answer.
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()

    def settle(value: bool) -> None:
        if not ready.done():
            ready.set_result(value)

    fd = sock.fileno()
    (loop.add_writer if write else loop.add_reader)(fd, settle, True)
    timer = loop.call_later(max(0.0, timeout), settle, False)
    try:
        return await ready
    finally:
        timer.cancel()
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def readable(sock: socket.socket, timeout: float) -> bool:
    """Wait until ``sock`` has something to read (or an error); False after ``timeout`` seconds."""
    return await _ready(sock, timeout, write=False)


async def connect(sock: socket.socket, sockaddr: tuple[Any, ...], timeout: float) -> None:
    """Connect the non-blocking ``sock`` within ``timeout`` seconds."""
    # Raises TimeoutError, or the OSError of the socket's error (ConnectionRefusedError, ...).
    sock.setblocking(False)
    code = sock.connect_ex(sockaddr)
    if code in IN_PROGRESS:
        if not await _ready(sock, timeout, write=True):
            raise TimeoutError(f"no answer within {timeout:g} s")
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
