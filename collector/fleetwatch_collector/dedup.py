"""Which sequence numbers of one agent were applied: a watermark plus the few applied above it.

Agents send the newest report first and then their backlog in order, so sequence numbers
arrive out of order. Every seq <= ``watermark`` is applied; ``above`` holds applied seqs
beyond it. The agent tells with each Push the lowest seq it still holds (``floor``): nothing
below it will ever come again, so the watermark may jump there and ``above`` stays small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# An agent cannot make the collector remember more than this (about 70 kB, 20 kB of JSON stored):
# a legitimate agent has a handful above its watermark (its newest reports sent ahead of a backlog).
MAX_ABOVE = 1024


@dataclass
class AppliedSeqs:
    watermark: int = 0
    above: set[int] = field(default_factory=set)

    def is_applied(self, seq: int) -> bool:
        return seq <= self.watermark or seq in self.above

    def mark(self, seq: int) -> None:
        """Record ``seq`` as applied and advance the watermark over any run it completes."""
        if seq <= self.watermark:
            return
        self.above.add(seq)
        while self.watermark + 1 in self.above:
            self.watermark += 1
            self.above.remove(self.watermark)
        if len(self.above) > MAX_ABOVE:  # give up the oldest tenth of the gaps rather than grow
            self.advance_to(sorted(self.above)[len(self.above) // 10])

    def advance_to(self, floor: int) -> None:
        """Everything up to ``floor`` counts as applied (the agent will not send it)."""
        if floor <= self.watermark:
            return
        self.watermark = floor
        self.above = {s for s in self.above if s > floor}
        while self.watermark + 1 in self.above:
            self.watermark += 1
            self.above.remove(self.watermark)

    @property
    def highest(self) -> int:
        return max(self.above) if self.above else self.watermark

    def dumps(self) -> str:
        if not self.above:  # the common case, as json.dumps writes it
            return f"[{self.watermark}, []]"
        return json.dumps([self.watermark, sorted(self.above)])

    @classmethod
    def loads(cls, text: str) -> AppliedSeqs:
        watermark, above = json.loads(text)
        return cls(int(watermark), {int(s) for s in above})
