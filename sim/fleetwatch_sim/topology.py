"""Spreads a simulated fleet over the sites of an inventory, by the sites' weights."""

from __future__ import annotations

from fleetwatch_proto.sites import Site


def allocate(total: int, all_sites: tuple[Site, ...]) -> list[tuple[Site, int]]:
    """Spread ``total`` workstations over the sites by weight (largest remainder, deterministic)."""
    weights = [s.weight for s in all_sites]
    if sum(weights) <= 0:
        weights = [1.0] * len(all_sites)
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return [(site, n) for site, n in zip(all_sites, counts, strict=True) if n > 0]
