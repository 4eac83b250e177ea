"""Gzip of the host families for /metrics: members per block of agents, compressed once, joined per scrape.

A gzip stream may be several gzip members one after the other (RFC 1952, 2.2): what they decompress
to, concatenated. The gzip body of /metrics is, per host family, the member of its # HELP/# TYPE
header (compressed once, at import), then one member per block of agents holding that family's
samples of up to BLOCK_AGENTS agents. A block is compressed once and kept until its agents change;
a background compaction (scrape.py) compresses new blocks every second, so a scrape joins kept
members and compresses only the last moments' changes.

Why blocks and not one member per agent and family, made at ingest: such a member of one or a few
lines compresses x2 (measured on simulated workstations), the same family of 64 agents x10 to x15,
and compressing 40 small members per report costs about 6 times the CPU.

Order: the body decompresses to exactly the plain body. Keys (agent ids, central devices) are kept in
one order, ``GzipBlocks.order()``: a key that changes moves to the end, as FleetState moves its chunks
to the end of every family's dict, so both renderings read agents in the same order:

    order():  [ block 1: a b c | block 2: d e (f moved away) | ... | pending: f g ]
    members:  [ kept           | stale: d e alone, per scrape | ... | compressed at the next compaction ]

Agents report at a steady interval, so those that reported together (one block) report together
again one interval later, and a block empties within seconds. A block that lost keys is rebuilt
from those left once it settled (SETTLE_ROUNDS compactions later); until then a scrape compresses
its keys still there for itself, those of neighbouring such blocks as one member per family.

Every zlib call lets the GIL go and must win it back from the event loop (up to the switch
interval, 5 ms, when the loop is busy), so the number of calls bounds a scrape and a compaction
more than the bytes do: hence blocks of hundreds of agents, runs of dirty blocks compressed
together, and a bounded number of blocks per compaction (COMPACT_BLOCKS), so that a scrape never
waits long for one. Not thread-safe: FleetState calls ``changed``, ``removed``, ``order`` and
``plan`` under its lock, and one compaction at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from fleetwatch_collector.exposition import HEADERS, UP

# Level 1: on simulated workstations 15 % larger than level 6 for 2.4 times less CPU (RESULTS.md).
LEVEL = 1
WBITS = 31  # a gzip member (16 + a 32 KiB window)
# A zlib call per family and block. 512 agents: two blocks a second at 50,000 agents every 60 s,
# 7 times fewer calls than blocks of 64 and a 15 % smaller body (RESULTS.md, bench_scale --gzip).
BLOCK_AGENTS = 512
SMALL = BLOCK_AGENTS // 2  # two neighbours this small are merged
COMPACT_BLOCKS = 8  # blocks one compaction compresses at most; the next one goes on
# Compactions a block that lost keys waits before it is rebuilt: 3 compresses each report 1.2 times
# (agents whose interval wanders by 1 s per report); 1: 1.9 times, 5: 1.0 but more per scrape.
SETTLE_ROUNDS = 3


def member(data: bytes) -> bytes:
    """One gzip member of ``data``; nothing for nothing."""
    return zlib.compress(data, LEVEL, WBITS) if data else b""


HEADER_MEMBERS = tuple(member(header) for header in HEADERS)
UpLine = Callable[[str], "bytes | None"]


class Block:
    """Keys compressed together: one member per host family (b"" where none has samples), and the
    member of their fleetwatch_agent_up lines as they were when it was made (up or down)."""

    __slots__ = ("dirty_round", "keys", "live", "members", "pieces", "up_lines", "up_member")

    def __init__(self, keys: list[str], pieces: list[tuple[bytes, ...]]) -> None:
        self.keys = keys
        self.live = len(keys)  # keys whose chunks are still the ones compressed here
        self.dirty_round = 0  # the compaction round in which it lost its first key
        self.members: tuple[bytes, ...] | None = None  # None: not compressed yet
        self.pieces = pieces  # what to compress, per family, until it is
        self.up_lines: tuple[bytes | None, ...] = ()
        self.up_member = b""

    @property
    def clean(self) -> bool:
        return self.members is not None and self.live == len(self.keys)

    @property
    def small(self) -> bool:
        return len(self.keys) < SMALL


class Plan:
    """What one compaction compresses (outside the lock), then the members of the body in order."""

    def __init__(
        self,
        segments: list[Block],
        up_lines: list[tuple[bytes | None, ...] | None],
        limit: int | None = None,
    ) -> None:
        self._segments = segments
        self._up_lines = up_lines  # per segment: new up lines to compress, None: its member is current
        self._limit = limit  # new blocks compressed at most (a compaction); None: all (a scrape)

    def compress(self) -> list[tuple[tuple[bytes, ...], bytes]]:
        """Compress the new blocks (a compaction: at most its limit) and the up lines that changed;
        (members, up member) per block compressed."""
        parts = []
        limit = self._limit
        for block, lines in zip(self._segments, self._up_lines, strict=True):
            if block.members is None:
                if limit is not None:
                    if limit <= 0:
                        continue  # the next compaction compresses it
                    limit -= 1
                block.members = tuple(member(b"".join(piece)) for piece in block.pieces)
                block.pieces = []
            if lines is not None:
                block.up_member = member(b"".join(line for line in lines if line is not None))
                block.up_lines = lines
            parts.append((block.members, block.up_member))
        return parts


class GzipBlocks:
    """The order of the keys on /metrics and their blocks (see the module docstring)."""

    def __init__(self) -> None:
        self._where: dict[str, Block | None] = {}  # every key, in order; None: pending
        self._chunks: dict[str, Sequence[bytes]] = {}  # every key's chunks, one per family
        self._pending: dict[str, None] = {}  # the keys not in a block, in order (the tail of _where)
        self._blocks: list[Block] = []
        self._round = 0

    def __len__(self) -> int:
        return len(self._where)

    def order(self) -> Iterable[str]:
        """Every key, in the order of the body; iterate under the lock."""
        return self._where.keys()

    def changed(self, key: str, chunks: Sequence[bytes]) -> None:
        """``key``'s chunks (one per family) were rendered again, and moved to the end of the families."""
        self.removed(key)
        self._where[key] = None
        self._chunks[key] = chunks
        self._pending[key] = None

    def removed(self, key: str) -> None:
        """``key``'s chunks left the families."""
        block = self._where.pop(key, None)
        if block is not None:
            if block.live == len(block.keys):
                block.dirty_round = self._round
            block.live -= 1
        self._chunks.pop(key, None)
        self._pending.pop(key, None)

    def plan(self, up_line: UpLine | None, settle: int = SETTLE_ROUNDS) -> Plan:
        """Under the lock: keep the clean blocks, rebuild those that lost keys at least ``settle``
        compactions ago (merged with small neighbours) and make blocks of the pending keys.

        For a scrape (``up_line`` given: the up line of a key, None for a key without one), the
        plan also compresses the up lines that changed, and the keys still there of the blocks not
        rebuilt yet, for this scrape only. Blocks wait to settle because the agents of a block
        report at about the same time (one interval after they last did): rebuilding a block as
        each of them reports would compress them all several times per report."""
        self._round += 1
        rebuild_before = self._round - settle
        segments: list[Block] = []
        run: list[str] = []
        for block in self._blocks:
            if not block.live:
                continue
            if block.members is None or (not block.clean and block.dirty_round < rebuild_before):
                run.extend(self._live(block))
            elif block.clean and run and len(run) + len(block.keys) <= BLOCK_AGENTS:
                run.extend(block.keys)  # a small rebuilt block would compress worse
            elif block.clean and segments and segments[-1].clean and block.small and segments[-1].small:
                run.extend(segments.pop().keys)  # two small neighbours: merged
                run.extend(block.keys)
            else:
                self._regroup(run, segments)
                segments.append(block)
        run.extend(self._pending)
        self._pending.clear()
        self._regroup(run, segments)
        self._blocks = segments
        if up_line is None:
            return Plan(segments, [None] * len(segments), COMPACT_BLOCKS)
        served = self._served(segments)
        up_lines: list[tuple[bytes | None, ...] | None] = [None] * len(served)
        for n, block in enumerate(served):
            lines = tuple(map(up_line, block.keys))
            if block.members is None or lines != block.up_lines:
                up_lines[n] = lines
        return Plan(served, up_lines)

    def _live(self, block: Block) -> list[str]:
        return [key for key in block.keys if self._where.get(key) is block]

    def _served(self, segments: list[Block]) -> list[Block]:
        """The blocks of a scrape: the clean and the new ones (compressed and kept), and for each run
        of neighbours that lost keys, one block of their keys still there, for this scrape only."""
        served: list[Block] = []
        run: list[str] = []
        for block in segments:
            if block.members is not None and not block.clean:
                run.extend(self._live(block))
                continue
            if run:
                served.append(Block(run, list(zip(*(self._chunks[key] for key in run), strict=True))))
                run = []
            served.append(block)
        if run:
            served.append(Block(run, list(zip(*(self._chunks[key] for key in run), strict=True))))
        return served

    def _regroup(self, run: list[str], into: list[Block]) -> None:
        """New blocks of ``run``'s keys, in order, as even as BLOCK_AGENTS allows; empties ``run``."""
        if not run:
            return
        count = -(-len(run) // BLOCK_AGENTS)
        size, extra = divmod(len(run), count)
        start = 0
        for n in range(count):
            end = start + size + (n < extra)
            keys = run[start:end]
            block = Block(keys, list(zip(*(self._chunks[key] for key in keys), strict=True)))
            for key in keys:
                self._where[key] = block
            into.append(block)
            start = end
        run.clear()


def gzip_fleet(parts: Sequence[tuple[tuple[bytes, ...], bytes]]) -> Iterator[bytes]:
    """The host families as gzip members, one chunk per family like ``render_fleet``: its header's
    member, then its members of every block; ``UP`` from the blocks' up members."""
    for index, header in enumerate(HEADER_MEMBERS):
        if index == UP:
            body = [up for _, up in parts if up]
        else:
            body = [members[index] for members, _ in parts if members[index]]
        if body:
            yield header + b"".join(body)
