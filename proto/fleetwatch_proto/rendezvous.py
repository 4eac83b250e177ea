"""Rendezvous (highest random weight) hashing: which collector an agent prefers, the same on both sides.

Every agent ranks the collectors by a hash of its id and the collector's name; its first is its
home, the next ones its failover order. Agents and collectors compute the same ranking from the
same list, with nothing shared at run time. Removing a collector moves only the agents it had
(each to its own second choice, so they spread over the rest); adding one takes about 1/n of the
agents from the others and moves no agent between two old collectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def weight(key: str, member: str) -> int:
    """The weight of ``member`` for ``key`` (64 bits of BLAKE2b over both, separated)."""
    digest = hashlib.blake2b(f"{key}\0{member}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ranked(key: str, members: Iterable[str]) -> list[str]:
    """``members`` from ``key``'s first choice to its last (ties, which need a 64-bit collision,
    by name); duplicates kept once."""
    return sorted(dict.fromkeys(members), key=lambda member: (-weight(key, member), member))


def home(key: str, members: Iterable[str]) -> str:
    """``key``'s first choice among ``members`` (ValueError when there is none)."""
    choices = ranked(key, members)
    if not choices:
        raise ValueError("no member to choose from")
    return choices[0]
