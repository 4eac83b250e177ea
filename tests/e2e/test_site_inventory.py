"""Sites are data: the collector process labels agents from the operators' inventory file (here the
two-tier Đồng Tháp 2025 one), follows renames, moves and merges on the next scrape without restart or
re-enrolment, keeps the previous inventory when an edit is bad, and the KPI rules group by the new labels.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from tests.conftest import REPO_ROOT
from tests.e2e.fleet_client import FleetClient, run_kpi_rules
from tests.e2e.support import (
    ProcessGroup,
    fetch_metrics,
    find_samples,
    parse_samples,
    run_command,
    start_collector,
    toml_string,
    value_of,
    wait_until,
)

pytestmark = pytest.mark.e2e

TWO_TIER = REPO_ROOT / "proto" / "fleetwatch_proto" / "inventories" / "dong-thap-2025.toml"
DISTRICT = "district:fleetwatch_antivirus_protected:ratio"
SITE = "site:fleetwatch_antivirus_protected:ratio"
PROVINCE = "province:fleetwatch_antivirus_protected:ratio"
# The edit: a display name changes, a ward moves to the other group, another ward is merged.
RENAME = ('name = "Phường Mỹ Tho"', 'name = "Phường Mỹ Tho (mới)"')
MERGE = ('slug = "phuong-my-tho"\n', 'slug = "phuong-my-tho"\naliases = ["phuong-dao-thanh"]\n')
MERGED_ENTRY = (
    '[[sites]]\n# from: Phường 4, Phường 5, xã Đạo Thạnh (TP Mỹ Tho)\nslug = "phuong-dao-thanh"\n'
    'name = "Phường Đạo Thạnh"\ngroup = "khu-vuc-tien-giang"\ntype = "commune"\nweight = 65\n\n',
    "",
)
MOVE = (
    'name = "Phường An Bình"\ngroup = "khu-vuc-dong-thap"',
    'name = "Phường An Bình"\ngroup = "khu-vuc-tien-giang"',
)


def setup(tmp_path: Path, check_seconds: float) -> tuple[Path, Path, Path]:
    """A copy of the two-tier inventory the test may edit, and a collector configuration naming it."""
    inventory = tmp_path / "sites.toml"
    shutil.copyfile(TWO_TIER, inventory)
    config = tmp_path / "collector.toml"
    config.write_text(
        f"[fleet]\ncheck_seconds = {check_seconds}\n\n[sites]\nfile = {toml_string(str(inventory))}\n",
        encoding="utf-8",
    )
    return inventory, config, tmp_path / "collector-data"


def admin(config: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `fleetwatch-collector` store command on this configuration and data folder."""
    return run_command("fleetwatch-collector", *args, "--config", str(config), "--data-dir", str(data_dir))


def token(config: Path, data_dir: Path, site: str, *options: str) -> str:
    result = admin(config, data_dir, "token", "create", "--site", site, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def edit(path: Path, *replacements: tuple[str, str]) -> None:
    """Rewrite the file with ``replacements``, its modification time moved forward."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    mtime = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))


def by_district(*ratios: tuple[str, float]) -> list[tuple[str, float]]:
    """Expected samples of the district KPI."""
    return [(f'{DISTRICT}{{district="{district}"}}', value) for district, value in ratios]


def labels_of(samples: list[Sample], hostname: str) -> tuple[str, str, str, str]:
    (info,) = find_samples(samples, "fleetwatch_agent_info", host=hostname)
    return info.labels["site"], info.labels["district"], info.labels["site_type"], info.labels["site_name"]


def test_token_commands_use_the_two_tier_inventory(tmp_path: Path) -> None:
    inventory, config, data_dir = setup(tmp_path, 5.0)
    made = admin(config, data_dir, "token", "create", "--site", "phuong-my-tho")
    assert made.returncode == 0, made.stderr
    assert "site phuong-my-tho (khu-vuc-tien-giang, commune)" in made.stderr
    # A district office of 2023, a department absorbed in 2025: neither is a site any more.
    for gone in ("ubnd-tp-my-tho", "so-thong-tin-va-truyen-thong"):
        refused = admin(config, data_dir, "token", "create", "--site", gone)
        assert refused.returncode == 2
        assert (
            f"--site {gone} is not in the site inventory (Đồng Tháp (hai cấp, từ 1/7/2025))" in refused.stderr
        )
    edit(inventory, RENAME, MERGE, MERGED_ENTRY)
    merged = admin(config, data_dir, "token", "create", "--site", "phuong-dao-thanh")
    assert merged.returncode == 0, merged.stderr
    assert "merged into phuong-my-tho" in merged.stderr
    listed = admin(config, data_dir, "token", "list")
    assert [line.split()[1] for line in listed.stdout.splitlines()[1:]] == ["phuong-my-tho", "phuong-my-tho"]


def test_a_bad_inventory_refuses_to_start_naming_the_entry(tmp_path: Path) -> None:
    inventory, config, data_dir = setup(tmp_path, 5.0)
    edit(
        inventory,
        (
            'slug = "so-noi-vu"\nname = "Sở Nội vụ"\ngroup = "co-quan-tinh"',
            'slug = "so-noi-vu"\nname = "Sở Nội vụ"\ngroup = "khu-khong-co"',
        ),
    )
    result = run_command(
        "fleetwatch-collector",
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    )
    assert result.returncode == 2, result.stderr
    assert f"site inventory {inventory}: sites[" in result.stderr
    assert "(so-noi-vu).group: 'khu-khong-co' is not one of the [[groups]]" in result.stderr


def test_renames_moves_and_merges_relabel_on_the_next_scrape(
    processes: ProcessGroup, tmp_path: Path, promtool: str
) -> None:
    inventory, config, data_dir = setup(tmp_path, 0.5)
    sites = {
        "pc-my-tho": ("phuong-my-tho", True),
        "pc-dao-thanh": ("phuong-dao-thanh", False),
        "pc-noi-vu": ("so-noi-vu", True),
        "pc-an-binh": ("phuong-an-binh", False),
    }
    tokens = {site: token(config, data_dir, site) for site, _ in sites.values()}
    outside = token(
        config,
        data_dir,
        "xa-ngoai-danh-sach",
        "--district",
        "khu-ngoai",
        "--type",
        "commune",
        "--name",
        "Xã Ngoài",
    )
    collector = start_collector(processes, data_dir, config=config)
    client = FleetClient(collector.grpc_address)
    try:
        agents = [client.enrol(tokens[site], host, protected) for host, (site, protected) in sites.items()]
        agents.append(client.enrol(outside, "pc-ngoai", protected=True))
        for agent in agents:
            client.push(agent)
        scrapes = [fetch_metrics(collector.metrics_url)]
        samples = parse_samples(scrapes[0])
        assert labels_of(samples, "pc-dao-thanh") == (
            "phuong-dao-thanh",
            "khu-vuc-tien-giang",
            "commune",
            "Phường Đạo Thạnh",
        )
        assert labels_of(samples, "pc-noi-vu") == ("so-noi-vu", "co-quan-tinh", "department", "Sở Nội vụ")
        assert labels_of(samples, "pc-ngoai") == ("xa-ngoai-danh-sach", "khu-ngoai", "commune", "Xã Ngoài")
        assert value_of(samples, "fleetwatch_collector_agents_unknown_site") == 1
        assert value_of(samples, "fleetwatch_collector_inventory_sites") == 115

        edit(inventory, RENAME, MERGE, MOVE, MERGED_ENTRY)
        wait_until(
            lambda: labels_of(collector.samples(), "pc-dao-thanh")[0] == "phuong-my-tho",
            "the merged ward's agent to move",
            watch=(collector.process,),
        )
        scrapes.append(fetch_metrics(collector.metrics_url))
        samples = parse_samples(scrapes[1])
        for host in ("pc-my-tho", "pc-dao-thanh"):
            assert labels_of(samples, host) == (
                "phuong-my-tho",
                "khu-vuc-tien-giang",
                "commune",
                "Phường Mỹ Tho (mới)",
            )
        assert labels_of(samples, "pc-an-binh")[:2] == ("phuong-an-binh", "khu-vuc-tien-giang")
        assert value_of(samples, "fleetwatch_collector_inventory_sites") == 114
        assert value_of(samples, "fleetwatch_collector_inventory_reload_errors_total") == 0
        assert collector.process.returncode is None  # no restart, no re-enrolment
        assert value_of(samples, "fleetwatch_collector_enrolments_total", result="ok") == 5

        inventory.write_text(inventory.read_text(encoding="utf-8") + "\n[[sites]]\nslug = 'half-written\n")
        wait_until(
            lambda: value_of(collector.samples(), "fleetwatch_collector_inventory_reload_errors_total") == 1,
            "the bad edit to be counted",
            watch=(collector.process,),
        )
        time.sleep(1.5)  # more checks pass: the same bad file is counted once
        samples = collector.samples()
        assert value_of(samples, "fleetwatch_collector_inventory_reload_errors_total") == 1
        assert labels_of(samples, "pc-dao-thanh")[0] == "phuong-my-tho"  # the previous inventory stays
        assert value_of(samples, "fleetwatch_collector_inventory_sites") == 114
        assert "site inventory not reloaded, keeping the previous one" in collector.process.stderr()
    finally:
        client.close()

    my_tho = f'{SITE}{{site="phuong-my-tho",district="khu-vuc-tien-giang",site_type="commune"}}'
    outcome = run_kpi_rules(
        promtool,
        scrapes,
        [
            (
                DISTRICT,
                0,
                by_district(
                    ("khu-vuc-tien-giang", 0.5),
                    ("co-quan-tinh", 1),
                    ("khu-vuc-dong-thap", 0),
                    ("khu-ngoai", 1),
                ),
            ),
            (DISTRICT, 1, by_district(("khu-vuc-tien-giang", 1 / 3), ("co-quan-tinh", 1), ("khu-ngoai", 1))),
            (f'{SITE}{{site="phuong-my-tho"}}', 1, [(my_tho, 0.5)]),
            (PROVINCE, 1, [(PROVINCE, 0.6)]),
        ],
        tmp_path,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_sighup_reloads_at_once(processes: ProcessGroup, tmp_path: Path) -> None:
    inventory, config, data_dir = setup(tmp_path, 3600.0)  # only SIGHUP reloads within the test
    site_token = token(config, data_dir, "phuong-my-tho")
    collector = start_collector(processes, data_dir, config=config)
    client = FleetClient(collector.grpc_address)
    try:
        client.push(client.enrol(site_token, "pc-my-tho"))
        edit(inventory, RENAME)
        time.sleep(1.0)
        assert labels_of(collector.samples(), "pc-my-tho")[3] == "Phường Mỹ Tho"
        collector.process.popen.send_signal(signal.SIGHUP)
        wait_until(
            lambda: labels_of(collector.samples(), "pc-my-tho")[3] == "Phường Mỹ Tho (mới)",
            "SIGHUP to reload the inventory",
            timeout=10,
            watch=(collector.process,),
        )
    finally:
        client.close()
