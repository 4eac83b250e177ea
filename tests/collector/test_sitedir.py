"""The collector's site inventory: labels by slug and alias, reloaded on change, bad edits kept out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.sitedir import Reload, SiteDirectory
from fleetwatch_proto.tomlconfig import ConfigError
from tests.conftest import REPO_ROOT

TWO_TIER = REPO_ROOT / "proto" / "fleetwatch_proto" / "inventories" / "dong-thap-2025.toml"
INVENTORY = """
[[groups]]
slug = "khu-a"
name = "Khu A"

[[groups]]
slug = "khu-b"
name = "Khu B"

[[sites]]
slug = "xa-mot"
name = "Xã Một"
group = "khu-a"
type = "commune"

[[sites]]
slug = "xa-hai"
name = "Xã Hai"
group = "khu-a"
type = "commune"
"""
ENROLLED = SiteLabels("xa-mot", "old-district", "district", "Old name")


def write(path: Path, text: str) -> Path:
    """Write the file and make sure its modification time moves, however coarse the clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    return path


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write(tmp_path / "sites.toml", INVENTORY)


def test_labels_come_from_the_inventory(inventory: Path) -> None:
    sites = SiteDirectory(inventory)
    assert sites.labels(ENROLLED) == (SiteLabels("xa-mot", "khu-a", "commune", "Xã Một"), True)
    unknown = SiteLabels("xa-khac", "h-x", "commune", "Xã Khác")
    assert sites.labels(unknown) == (unknown, False)  # keeps its enrolment labels


def test_built_in_inventory_is_the_default() -> None:
    sites = SiteDirectory(None)
    assert len(sites.inventory.sites) == 201
    assert sites.check(force=True) is Reload.UNCHANGED


def test_two_tier_inventory_loads() -> None:
    sites = SiteDirectory(TWO_TIER)
    assert len(sites.inventory.sites) == 115
    commune = next(s for s in sites.inventory.sites if s.site_type == "commune")
    shown, known = sites.labels(SiteLabels(commune.slug, "", "", ""))
    assert known and shown.district == commune.district


def test_a_bad_file_refuses_to_start_naming_the_entry(inventory: Path) -> None:
    write(inventory, INVENTORY.replace('type = "commune"', 'type = "province"', 1))
    with pytest.raises(ConfigError, match=r"sites\[0\] \(xa-mot\)\.type: 'province'"):
        SiteDirectory(inventory)


def test_a_changed_file_is_reloaded_renames_moves_and_merges(inventory: Path) -> None:
    sites = SiteDirectory(inventory)
    assert sites.check() is Reload.UNCHANGED
    merged = (
        INVENTORY.replace('name = "Xã Một"', 'name = "Phường Một"')
        .replace('name = "Xã Hai"\ngroup = "khu-a"', 'name = "Xã Hai"\ngroup = "khu-b"')
        .replace('slug = "xa-hai"', 'slug = "xa-moi"\naliases = ["xa-hai"]')
    )
    write(inventory, merged)
    assert sites.check() is Reload.RELOADED
    assert sites.labels(ENROLLED)[0] == SiteLabels("xa-mot", "khu-a", "commune", "Phường Một")
    old_hai = SiteLabels("xa-hai", "khu-a", "commune", "Xã Hai")
    assert sites.labels(old_hai) == (SiteLabels("xa-moi", "khu-b", "commune", "Xã Hai"), True)
    assert sites.same_site("xa-hai", "xa-moi") and not sites.same_site("xa-hai", "xa-mot")
    assert sites.check() is Reload.UNCHANGED


def test_a_bad_edit_keeps_the_previous_inventory_and_is_reported_once(
    inventory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sites = SiteDirectory(inventory)
    write(
        inventory,
        INVENTORY + '\n[[sites]]\nslug = "xa-mot"\nname = "Again"\ngroup = "khu-a"\ntype = "commune"\n',
    )
    assert sites.check() is Reload.FAILED
    assert "slug 'xa-mot' appears twice" in caplog.text
    assert sites.check() is Reload.UNCHANGED  # the same bad version: not counted again
    assert sites.labels(ENROLLED)[1]  # still the previous inventory
    assert sites.check(force=True) is Reload.FAILED  # SIGHUP tries again
    inventory.unlink()
    assert sites.check() is Reload.FAILED  # a deleted file is an error too, the old inventory stays
    assert len(sites.inventory.sites) == 2
    write(inventory, INVENTORY)
    assert sites.check() is Reload.RELOADED
