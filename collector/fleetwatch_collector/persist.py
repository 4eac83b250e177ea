"""Group commit: Push handlers wait until their agent's state is in the store, in shared transactions.

A Push is acknowledged only after the state it produced (applied sequence numbers, counters)
is committed, so a collector restart never applies a report twice nor forgets one it acked.
One writer thread commits everything queued since its previous commit in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict

from fleetwatch_collector.fleet import Snapshot
from fleetwatch_collector.store import Store, StoreError

log = logging.getLogger(__name__)
MAX_GROUP = 2000


class Persister:
    """Owns the writer thread; ``await save(snapshot)`` returns once it is committed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[tuple[Snapshot, asyncio.Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()
        # When each waiting save began, oldest first (an OrderedDict: its first entry in O(1)).
        self._waiting: OrderedDict[asyncio.Future[None], float] = OrderedDict()

    @property
    def pending(self) -> int:
        """Saves waiting for their commit."""
        return len(self._waiting)

    def oldest_wait(self, now: float) -> float:
        """Seconds the oldest waiting save has waited (time.monotonic's clock), 0 when none waits."""
        for started in self._waiting.values():
            return now - started
        return 0.0

    async def save(self, snapshot: Snapshot) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[future] = time.monotonic()
        try:
            self._queue.put((snapshot, future))
            await future
        finally:
            del self._waiting[future]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(group)
                    return
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[tuple[Snapshot, asyncio.Future[None]]]) -> None:
        # Several snapshots of one agent may be queued: the last one is the newest.
        latest = {snapshot.agent_id: snapshot for snapshot, _ in group}
        error: StoreError | None = None
        try:
            self._store.save_agents(list(latest.values()))
        except StoreError as exc:
            log.error("cannot save agent state: %s", exc)
            error = exc
        except Exception as exc:  # the writer thread must survive anything, or every save hangs
            log.exception("unexpected error saving agent state")
            error = StoreError(f"unexpected error saving agent state: {exc}")
        # One wake-up of each event loop for the whole group, not one per Push: each wake-up is a
        # write to the loop's self-pipe, and the event loop's thread pays for every one.
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, future in group:
            by_loop.setdefault(future.get_loop(), []).append(future)
        for loop, futures in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, futures, error)

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()


def _resolve_all(futures: list[asyncio.Future[None]], error: StoreError | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
