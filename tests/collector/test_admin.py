"""Operator commands: --expires durations, --site resolution, and token/agent commands run as a program."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.admin import parse_duration, resolve_site
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.enrolment import EnrolmentError
from fleetwatch_collector.store import Store
from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.tomlconfig import ConfigError

# The console script of the venv running the tests, activated or not.
COLLECTOR = Path(sys.executable).parent / "fleetwatch-collector"
BUILT_IN = SiteLabels("tt-cai-be", "h-cai-be", "commune", "Thị trấn Cái Bè")
INVENTORY = load_inventory()  # the built-in one


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800.0),
        ("12h", 43_200.0),
        ("7d", 604_800.0),
        ("45s", 45.0),
        ("365d", 31_536_000.0),
        ("never", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0d", "0m", "7", "d", "7w", "-1d", "1.5h", " 7d", "7d ", "Never", "7D", "1h30m"]
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--expires: ") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def resolve(
    site: str, district: str | None = None, type_: str | None = None, name: str | None = None
) -> SiteLabels:
    """resolve_site with these options, against the built-in inventory."""
    return resolve_site(argparse.Namespace(site=site, district=district, type=type_, name=name), INVENTORY)


def test_built_in_site_fills_district_type_and_name() -> None:
    assert resolve("tt-cai-be") == BUILT_IN
    assert resolve("so-y-te") == SiteLabels("so-y-te", "tp-my-tho", "department", "Sở Y tế")


def test_options_override_the_built_in_site() -> None:
    resolved = resolve("tt-cai-be", "h-cai-lay", "district", "Điểm mới")
    assert resolved == SiteLabels("tt-cai-be", "h-cai-lay", "district", "Điểm mới")
    assert resolve("tt-cai-be", name="").site_name == ""


def test_unknown_site_with_district_and_type() -> None:
    assert resolve("xa-moi", "h-cai-be", "commune") == SiteLabels("xa-moi", "h-cai-be", "commune", "")


@pytest.mark.parametrize(("district", "type_"), [(None, None), ("h-cai-be", None), (None, "commune")])
def test_unknown_site_without_district_and_type(district: str | None, type_: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        resolve("xa-moi", district, type_)
    assert str(info.value) == (
        f"--site xa-moi is not in the site inventory ({INVENTORY.name}): add it there, "
        "or give --district and --type"
    )


@pytest.mark.parametrize("site", ["Xa-Moi", "xa moi", "xã-mới", "-xa", "xa-", ""])
def test_site_must_be_a_slug(site: str) -> None:
    with pytest.raises(ConfigError, match=r"^--site: "):
        resolve(site, "h-cai-be", "commune")


def test_district_must_be_a_slug() -> None:
    with pytest.raises(ConfigError, match=r"^--district: 'Huyện Cái Bè' is not an ASCII slug$"):
        resolve("xa-moi", "Huyện Cái Bè", "commune")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COLLECTOR), *args], capture_output=True, text=True, timeout=60, check=False)


def test_token_create_list_revoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = run("token", "create", "--site", "tt-cai-be", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fwt1."), created.stdout
    token = lines[0]
    assert "site tt-cai-be (h-cai-be, commune)" in created.stderr
    assert token not in created.stderr
    token_id = token.split(".")[1]

    store = Store(tmp_path / "data" / "collector.sqlite")
    try:
        assert enrolment.enrol(store, token, 0.0).site == BUILT_IN
    finally:
        store.close()

    listed = run("token", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(token_id)]
    assert row.split()[1] == "tt-cai-be"
    assert row.split()[-2:] == ["False", "1"]  # not revoked, one enrolment
    assert token.split(".")[2] not in listed.stdout  # never the secret

    revoked = run("token", "revoke", token_id, "--data-dir", data)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"token {token_id} revoked"
    (row,) = [
        line for line in run("token", "list", "--data-dir", data).stdout.splitlines() if token_id in line
    ]
    assert row.split()[-2:] == ["True", "1"]
    store = Store(tmp_path / "data" / "collector.sqlite")
    try:
        with pytest.raises(EnrolmentError) as info:
            enrolment.enrol(store, token, 0.0)
        assert info.value.reason == "token_revoked"
    finally:
        store.close()


def test_any_site_token_that_never_expires(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = run("token", "create", "--any-site", "--expires", "never", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("fwt1.") and created.stdout.count("\n") == 1
    assert "any site, expires never" in created.stderr
    (row,) = run("token", "list", "--data-dir", data).stdout.splitlines()[1:]
    assert row.split()[1] == "*"
    assert "never" in row


def test_data_dir_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "from-config"}"\n', encoding="utf-8")
    created = run("token", "create", "--site", "so-y-te", "--config", str(config))
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "from-config" / "collector.sqlite").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "revoke", "00000000"), "no token '00000000'"),
        (("agent", "revoke", "a-0000000000000000"), "no agent 'a-0000000000000000'"),
        (("token", "create", "--site", "xa-moi"), "--site xa-moi is not in the site inventory"),
        (("token", "create", "--site", "so-y-te", "--expires", "7w"), "--expires: '7w'"),
    ],
    ids=["token-revoke", "agent-revoke", "unknown-site", "bad-expires"],
)
def test_errors_exit_2_with_a_message(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("fleetwatch-collector: ")
    assert message in result.stderr


def test_agent_list_and_revoke(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "collector.sqlite")
    try:
        token = enrolment.create_token(store, BUILT_IN, 0.0, None)
        agent = enrolment.enrol(store, token, 0.0).agent_id
    finally:
        store.close()
    data = str(tmp_path / "data")
    listed = run("agent", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(agent)]
    assert row.split()[1:3] == ["tt-cai-be", "False"]

    revoked = run("agent", "revoke", agent, "--data-dir", data)
    assert revoked.returncode == 0, revoked.stderr
    assert agent in revoked.stdout
    store = Store(tmp_path / "data" / "collector.sqlite")
    try:
        cred = enrolment.credential(store, agent)
        assert cred is not None
        assert cred.revoked
    finally:
        store.close()
    (row,) = [line for line in run("agent", "list", "--data-dir", data).stdout.splitlines() if agent in line]
    assert row.split()[2] == "True"
