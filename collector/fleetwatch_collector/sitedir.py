"""The site inventory the collector labels agents with, read again when its file changes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.filesig import Signature, signature
from fleetwatch_proto.sites import Inventory, load_inventory
from fleetwatch_proto.tomlconfig import ConfigError

log = logging.getLogger(__name__)
# What identifies a version of the file without reading it: (mtime_ns, size, inode); None: unreadable.


class Reload(Enum):
    UNCHANGED = "unchanged"
    RELOADED = "reloaded"
    FAILED = "failed"


@dataclass(frozen=True)
class Loaded:
    """One inventory and the labels of each of its slugs and aliases, swapped as one reference."""

    inventory: Inventory
    labels: dict[str, SiteLabels]


def _loaded(inventory: Inventory) -> Loaded:
    labels = {}
    for site in inventory.sites:
        shown = SiteLabels(site.slug, site.district, site.site_type, site.name)
        labels.update(dict.fromkeys((site.slug, *site.aliases), shown))
    return Loaded(inventory, labels)


class SiteDirectory:
    """The current inventory of ``path`` (None: the built-in one); thread-safe for readers."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._signature = self._stat()
        self._current = _loaded(load_inventory(path))  # ConfigError: the collector does not start

    @property
    def inventory(self) -> Inventory:
        return self._current.inventory

    def labels(self, enrolled: SiteLabels) -> tuple[SiteLabels, bool]:
        """The inventory's labels for ``enrolled.site`` (or an alias) and True; else ``enrolled``, False."""
        shown = self._current.labels.get(enrolled.site)
        return (enrolled, False) if shown is None else (shown, True)

    def canonical(self, slug: str) -> str:
        """The slug of the site ``slug`` names now (itself, or the site it was merged into)."""
        shown = self._current.labels.get(slug)
        return slug if shown is None else shown.site

    def same_site(self, a: str, b: str) -> bool:
        """Whether two slugs name the same site now (one may have been merged into the other)."""
        return self.canonical(a) == self.canonical(b)

    def _stat(self) -> Signature:
        return signature(self.path)

    def check(self, force: bool = False) -> Reload:
        """Read the file again if it changed (or when ``force``); a bad file keeps the old inventory."""
        if self.path is None:
            return Reload.UNCHANGED
        before = self._stat()
        if before == self._signature and not force:
            return Reload.UNCHANGED
        try:
            loaded = _loaded(load_inventory(self.path))
        except ConfigError as exc:
            if self._stat() != before:  # written while we read it: read it again at the next check
                return Reload.UNCHANGED
            self._signature = before  # report a bad version once, not at every check
            log.error("site inventory not reloaded, keeping the previous one: %s", exc)
            return Reload.FAILED
        self._signature = before
        self._current = loaded
        log.info(
            "site inventory %s reloaded: %d sites (%s)",
            self.path,
            len(loaded.inventory.sites),
            loaded.inventory.name,
        )
        return Reload.RELOADED
