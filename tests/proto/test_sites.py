"""The site inventory: shipped files valid and complete, bad files refused naming the entry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from fleetwatch_proto.limits import SLUG_RE
from fleetwatch_proto.sites import load_inventory, parse_inventory, slugify
from fleetwatch_proto.tomlconfig import ConfigError
from tests.conftest import REPO_ROOT

INVENTORIES = REPO_ROOT / "proto" / "fleetwatch_proto" / "inventories"


def test_default_inventory_is_the_2023_structure() -> None:
    inventory = load_inventory()
    assert len(inventory.sites) == 201
    assert Counter(s.site_type for s in inventory.sites) == {"department": 18, "district": 11, "commune": 172}
    assert len(inventory.groups) == 11
    assert {s.district for s in inventory.sites} == {g.slug for g in inventory.groups}


def test_two_tier_inventory_has_no_district_level() -> None:
    inventory = load_inventory(INVENTORIES / "dong-thap-2025.toml")
    types = Counter(s.site_type for s in inventory.sites)
    assert "district" not in types
    assert types["commune"] == 102


@pytest.mark.parametrize("path", sorted(INVENTORIES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_inventories_have_valid_unique_slugs(path: Path) -> None:
    inventory = load_inventory(path)
    slugs = [s.slug for s in inventory.sites]
    assert len(set(slugs)) == len(slugs)
    assert all(SLUG_RE.fullmatch(s.slug) and SLUG_RE.fullmatch(s.district) for s in inventory.sites)
    assert all(s.name for s in inventory.sites)


def test_sites_named_in_the_readmes_exist() -> None:
    inventory = load_inventory()
    for slug in ("xa-tan-my-chanh", "so-thong-tin-va-truyen-thong"):
        assert inventory.site(slug) is not None, slug


def _site(**override: object) -> dict[str, object]:
    return {"slug": "xa-a", "name": "Xã A", "group": "g", "type": "commune", **override}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sites": []}, "'sites' is empty"),
        ({"sites": [_site(slug="Xa A")]}, "sites[0].slug: 'Xa A' is not an ASCII slug"),
        ({"sites": [_site(type="province")]}, "sites[0] (xa-a).type: 'province' is not one of"),
        ({"sites": [_site(), _site()]}, "slug 'xa-a' appears twice"),
        ({"groups": [{"slug": "h"}], "sites": [_site()]}, "sites[0] (xa-a).group: 'g' is not one of"),
        ({"sites": [_site(colour="red")]}, "sites[0]: unknown key 'colour'"),
        ({"sites": [{"slug": "xa-a", "group": "g", "type": "commune"}]}, "sites[0]: missing key 'name'"),
        ({"sites": [_site(weight=-1)]}, "weight: must be a non-negative number"),
        ({"site": []}, "unknown key 'site'"),
        ({"sites": [_site(aliases="xa-b")]}, "sites[0] (xa-a).aliases: expected a list of slugs"),
        ({"sites": [_site(aliases=["Xa B"])]}, "sites[0] (xa-a).aliases[0]: 'Xa B' is not an ASCII slug"),
        (
            {"sites": [_site(aliases=["xa-b"]), _site(slug="xa-b")]},
            "sites[0] (xa-a).aliases: 'xa-b' is still a site of its own",
        ),
        (
            {"sites": [_site(aliases=["xa-c"]), _site(slug="xa-b", aliases=["xa-c"])]},
            "sites[1] (xa-b).aliases: 'xa-c' is already an alias of 'xa-a'",
        ),
    ],
)
def test_bad_inventories_are_refused_naming_the_entry(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_inventory(data, "inv.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("inv.toml: ")


def test_names_are_normalised_to_nfc() -> None:
    decomposed = "Xa\u0303 A"  # "Xã" with a combining tilde
    inventory = parse_inventory({"sites": [_site(name=decomposed)]})
    assert inventory.sites[0].name == "Xã A"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found|No such file"):
        load_inventory(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("sites = [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_inventory(bad)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbf[[sites]]\nslug = "a"\nname = "A"\ngroup = "g"\ntype = "commune"\n')
    assert load_inventory(bom).sites[0].slug == "a"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sở Y tế", "so-y-te"),
        ("Văn phòng Đoàn ĐBQH và HĐND tỉnh", "van-phong-doan-dbqh-va-hdnd-tinh"),
        ("Sở Lao động - Thương binh và Xã hội", "so-lao-dong-thuong-binh-va-xa-hoi"),
        ("đường  Đê", "duong-de"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_aliases_resolve_to_the_site_they_were_merged_into() -> None:
    inventory = parse_inventory(
        {"sites": [_site(slug="xa-moi", name="Xã Mới", aliases=["xa-cu-1", "xa-cu-2"]), _site(slug="xa-b")]}
    )
    merged = inventory.resolve("xa-cu-2")
    assert merged is not None and merged.slug == "xa-moi"
    assert merged.aliases == ("xa-cu-1", "xa-cu-2")
    assert inventory.resolve("xa-moi") is merged
    assert inventory.site("xa-cu-1") is None  # site() is the exact slug only
    assert inventory.resolve("xa-khac") is None
    assert inventory.sites[1].aliases == ()
