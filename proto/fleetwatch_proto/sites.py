"""The site inventory: the sites, their display names and grouping, from a TOML file operators own.

A site is what the labels ``site``, ``district`` and ``site_type`` of every host series name.
The grouping (``district``) is whatever the operator chooses: the district-level units of
the 2023 structure, or areas of a two-tier province. Nothing here assumes three levels.
A site merged into another is listed in the survivor's ``aliases``: ``resolve`` maps the old
slug to the survivor, so agents enrolled at the old site carry the survivor's labels.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fleetwatch_proto.limits import SLUG_RE
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.tomlconfig import ConfigError

# The inventory shipped with fleetwatch, used when the operator names none.
DEFAULT_INVENTORY = "tien-giang-2023.toml"
DEFAULT_WEIGHT = {"department": 60.0, "district": 50.0, "commune": 14.5}


@dataclass(frozen=True)
class Router:
    """A router of a site, polled over SNMP."""

    name: str
    address: str


@dataclass(frozen=True)
class Group:
    """A grouping of sites; its slug is the ``district`` label."""

    slug: str
    name: str


@dataclass(frozen=True)
class Site:
    slug: str
    name: str
    district: str  # slug of the site's group
    site_type: str  # a SiteType name: department, district, commune
    weight: float = 1.0  # relative number of workstations (the simulator's spread)
    routers: tuple[Router, ...] = ()
    aliases: tuple[str, ...] = ()  # slugs of sites merged into this one; their agents now belong here


@dataclass(frozen=True)
class Inventory:
    """Every site and group, looked up by slug."""

    name: str
    groups: tuple[Group, ...]
    sites: tuple[Site, ...]
    _by_slug: dict[str, Site] = field(init=False, repr=False, compare=False)
    _by_alias: dict[str, Site] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_slug", {site.slug: site for site in self.sites})
        object.__setattr__(self, "_by_alias", {a: site for site in self.sites for a in site.aliases})

    def site(self, slug: str) -> Site | None:
        return self._by_slug.get(slug)

    def resolve(self, slug: str) -> Site | None:
        """The site named by ``slug``, or the site it was merged into (``aliases``); None if neither."""
        return self._by_slug.get(slug) or self._by_alias.get(slug)

    def group_name(self, slug: str) -> str:
        return next((g.name for g in self.groups if g.slug == slug), slug)


def slugify(name: str) -> str:
    """ASCII slug of a Vietnamese name: 'Sở Y tế' -> 'so-y-te'."""
    text = name.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_text.lower()).split()
    return "-".join(words)


def load_inventory(path: Path | None = None) -> Inventory:
    """Read and check an inventory file; None reads the one shipped with fleetwatch."""
    if path is None:
        source = f"built-in inventory {DEFAULT_INVENTORY}"
        raw = resources.files("fleetwatch_proto.inventories").joinpath(DEFAULT_INVENTORY).read_bytes()
    else:
        source = f"site inventory {path}"
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{source}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    return parse_inventory(data, source)


def parse_inventory(data: dict[str, Any], source: str = "site inventory") -> Inventory:
    """Build an Inventory from parsed TOML; errors name the entry and the key."""
    _keys(data, source, "", required={"sites"}, optional={"name", "groups"})
    groups = tuple(
        _group(entry, source, f"groups[{i}]") for i, entry in enumerate(_list(data, "groups", source))
    )
    group_slugs = _unique((g.slug for g in groups), source, "groups")
    sites = tuple(
        _site(entry, source, f"sites[{i}]", group_slugs)
        for i, entry in enumerate(_list(data, "sites", source))
    )
    if not sites:
        raise ConfigError(f"{source}: 'sites' is empty: at least one site is needed")
    slugs = _unique((s.slug for s in sites), source, "sites")
    _check_aliases(sites, slugs, source)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: 'name' must be a string")
    return Inventory(_nfc(name), groups, sites)


def _list(data: dict[str, Any], key: str, source: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{source}: '{key}' must be a list of tables ([[{key}]])")
    return value


def _keys(entry: dict[str, Any], source: str, where: str, required: set[str], optional: set[str]) -> None:
    unknown = set(entry) - required - optional
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise ConfigError(f"{source}: {where}unknown key {sorted(unknown)[0]!r} (known: {known})")
    missing = required - set(entry)
    if missing:
        raise ConfigError(f"{source}: {where}missing key {sorted(missing)[0]!r}")


def _text(entry: dict[str, Any], key: str, source: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {where}.{key}: expected a string, got {value!r}")
    return value


def _slug(entry: dict[str, Any], key: str, source: str, where: str) -> str:
    value = _text(entry, key, source, where)
    if not SLUG_RE.fullmatch(value):
        raise ConfigError(f"{source}: {where}.{key}: {value!r} is not an ASCII slug like 'xa-tan-my-chanh'")
    return value


def _group(entry: dict[str, Any], source: str, where: str) -> Group:
    _keys(entry, source, f"{where}: ", required={"slug"}, optional={"name"})
    slug = _slug(entry, "slug", source, where)
    return Group(slug, _nfc(_text(entry, "name", source, where)) or slug)


def _site(entry: dict[str, Any], source: str, where: str, groups: set[str]) -> Site:
    _keys(entry, source, f"{where}: ", {"slug", "name", "group", "type"}, {"weight", "routers", "aliases"})
    slug = _slug(entry, "slug", source, where)
    where = f"{where} ({slug})"
    group = _slug(entry, "group", source, where)
    if groups and group not in groups:
        raise ConfigError(f"{source}: {where}.group: {group!r} is not one of the [[groups]]")
    site_type = _text(entry, "type", source, where)
    if site_type not in SITE_TYPE.by_name:
        raise ConfigError(f"{source}: {where}.type: {site_type!r} is not one of {list(SITE_TYPE.names())}")
    weight = entry.get("weight", DEFAULT_WEIGHT.get(site_type, 1.0))
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"{source}: {where}.weight: must be a non-negative number")
    routers = []
    for i, router in enumerate(_list(entry, "routers", source)):
        _keys(router, source, f"{where}.routers[{i}]: ", required={"name", "address"}, optional=set())
        routers.append(Router(_slug(router, "name", source, f"{where}.routers[{i}]"), router["address"]))
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list):
        raise ConfigError(f"{source}: {where}.aliases: expected a list of slugs, got {aliases!r}")
    for i, alias in enumerate(aliases):
        if not isinstance(alias, str) or not SLUG_RE.fullmatch(alias):
            raise ConfigError(f"{source}: {where}.aliases[{i}]: {alias!r} is not an ASCII slug")
    name = _nfc(_text(entry, "name", source, where))
    return Site(slug, name or slug, group, site_type, float(weight), tuple(routers), tuple(aliases))


def _check_aliases(sites: tuple[Site, ...], slugs: set[str], source: str) -> None:
    """An alias names a site that no longer exists, merged into exactly one other."""
    owner: dict[str, str] = {}
    for i, site in enumerate(sites):
        where = f"{source}: sites[{i}] ({site.slug}).aliases"
        for alias in site.aliases:
            if alias in slugs:
                raise ConfigError(
                    f"{where}: {alias!r} is still a site of its own: remove its entry when merging it"
                )
            if alias in owner:
                raise ConfigError(f"{where}: {alias!r} is already an alias of {owner[alias]!r}")
            owner[alias] = site.slug


def _unique(slugs: Iterable[str], source: str, key: str) -> set[str]:
    seen: set[str] = set()
    for slug in slugs:
        if slug in seen:
            raise ConfigError(f"{source}: {key}: slug {slug!r} appears twice")
        seen.add(slug)
    return seen


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
