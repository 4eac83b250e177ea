"""The .deb packages: built from the checkout, lintian-clean, installed, run as their units run them, removed.

Installs into this machine (root, dpkg): fleetwatch-agent and fleetwatch-collector, their users,
/opt/fleetwatch, /etc/fleetwatch and /var/lib/fleetwatch-*; everything but the two system users is
purged at the end. Where systemd is not PID 1 the programs run under the part of their unit's sandbox
that needs no systemd (tests/packaging/unitfile.py) and `systemd-analyze verify` checks the installed
units; where systemd runs, the installed service itself is checked.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port, require_program
from tests.packaging import unitfile

pytestmark = [pytest.mark.e2e, pytest.mark.peer("dpkg-deb"), pytest.mark.peer("lintian")]
PACKAGES = ("fleetwatch-agent", "fleetwatch-collector")
AGENT_CONFIG = Path("/etc/fleetwatch/agent.toml")
TOKEN = Path("/etc/fleetwatch/enroll.token")
AGENT_DATA = Path("/var/lib/fleetwatch-agent")
COLLECTOR_DATA = Path("/var/lib/fleetwatch-collector")
PING_SYSCTL = Path("/etc/sysctl.d/60-fleetwatch-agent-ping.conf")
WANTS = Path("/etc/systemd/system/multi-user.target.wants")
UNIT_DIR = Path("/lib/systemd/system")
SITE = "xa-tan-my-chanh"  # a site of the built-in inventory
WAIT_SECONDS = 60  # functional bound for an enrolment and a first report, never a measured time


def run(command: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


def package_state(package: str) -> str:
    """dpkg's two letters (ii installed, rc removed with its configuration), or "absent"."""
    done = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package],
                          capture_output=True, text=True, check=False)  # fmt: skip
    state = done.stdout.strip()
    return state if done.returncode == 0 and len(state) >= 2 and state[1] != "n" else "absent"


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("installs packages: needs root (CI runs as root)")
    require_program("dpkg-deb", "apt-get install dpkg")
    require_program("dpkg-shlibdeps", "apt-get install dpkg-dev")
    require_program("setpriv", "apt-get install util-linux")
    version = run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info >= (3, 11))"]).stdout
    if version.strip() != "True":
        pytest.skip("the packages run on the target's /usr/bin/python3, which must be 3.11 or later")
    for package in PACKAGES:
        if package_state(package) != "absent":
            pytest.skip(f"{package} is already on this machine ({package_state(package)}): not touching it")
    out = tmp_path_factory.mktemp("debs")
    command = [sys.executable, str(REPO_ROOT / "deploy" / "package" / "build.py"), "deb",
               "--output", str(out), "--compression", "gzip"]  # fmt: skip
    built = run(command).stdout.split()
    return {Path(path).name.split("_")[0]: Path(path) for path in built}


@pytest.fixture(scope="module")
def installation(debs: dict[str, Path]) -> Iterator[dict[str, Path]]:
    try:
        run(["dpkg", "-i", *map(str, debs.values())])
        yield debs
    finally:
        for package in PACKAGES:
            if package_state(package) != "absent":
                subprocess.run(["dpkg", "-P", package], capture_output=True, check=False, timeout=300)


def test_lintian_reports_no_error_and_no_warning(debs: dict[str, Path]) -> None:
    lintian = require_program("lintian", "apt-get install lintian")
    done = subprocess.run([lintian, "--display-info", *map(str, debs.values())],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    # Intended tags are overridden, each with its reason (deploy/package/debian/*/lintian-overrides); an
    # override that no longer matches is reported as an I: tag (unused-override, mismatched-override).
    lines = done.stdout.splitlines()
    findings = [line for line in lines if re.match(r"^[EW]: ", line) or "-override" in line]
    assert done.returncode == 0 and not findings, "\n".join(findings) + done.stderr


def test_agent_package_installs_its_user_folders_and_conffile(installation: dict[str, Path]) -> None:
    user = pwd.getpwnam("fleetwatch-agent")
    assert user.pw_shell in ("/usr/sbin/nologin", "/bin/false") and user.pw_uid < 1000
    assert Path("/usr/bin/fleetwatch-agent").resolve() == Path("/opt/fleetwatch/agent/bin/fleetwatch-agent")
    assert not Path("/opt/fleetwatch/agent/bin/fleetwatch-collector").exists()  # one command per package
    assert not Path("/opt/fleetwatch/agent/bin/pip").exists()
    state = AGENT_DATA.stat()
    assert (state.st_uid, state.st_mode & 0o777) == (user.pw_uid, 0o700)
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "fleetwatch-agent"]).stdout
    assert str(AGENT_CONFIG) in conffiles
    config = AGENT_CONFIG.read_text()
    assert f'token_file = "{TOKEN}"' in config
    assert (UNIT_DIR / "fleetwatch-agent.service").read_text() == (
        REPO_ROOT / "deploy" / "systemd" / "fleetwatch-agent.service"
    ).read_text()
    assert (WANTS / "fleetwatch-agent.service").is_symlink()  # enabled, also where systemd does not run
    depends = run(["dpkg-query", "-W", "-f=${Depends}", "fleetwatch-agent"]).stdout
    assert re.search(r"\bpython3\.\d+\b", depends) and "adduser" in depends, depends
    # snmp: any workstation can poll its site's routers without a download.
    run(["/opt/fleetwatch/agent/bin/python", "-c", "import fleetwatch_agent, psutil, pysnmp"])


def test_agent_package_allows_icmp_to_its_group_only(installation: dict[str, Path]) -> None:
    gid = grp.getgrnam("fleetwatch-agent").gr_gid
    if not PING_SYSCTL.exists():  # an administrator's range already covered the group, or set another
        low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
        pytest.skip(f"net.ipv4.ping_group_range is {low} {high} here: the package leaves it alone")
    assert f"net.ipv4.ping_group_range = {gid} {gid}" in PING_SYSCTL.read_text()


def test_collector_package_installs_its_user_folders_and_conffile(installation: dict[str, Path]) -> None:
    user = pwd.getpwnam("fleetwatch-collector")
    state = COLLECTOR_DATA.stat()
    assert (state.st_uid, state.st_mode & 0o777) == (user.pw_uid, 0o700)
    assert "/etc/fleetwatch/collector.toml" in run(["dpkg-query", "-W", "-f=${Conffiles}",
                                                    "fleetwatch-collector"]).stdout  # fmt: skip
    assert Path("/usr/bin/fleetwatch-collector").resolve() == Path(
        "/opt/fleetwatch/collector/bin/fleetwatch-collector"
    )
    run(["/opt/fleetwatch/collector/bin/python", "-c", "import fleetwatch_collector, prometheus_client"])


@pytest.mark.peer("systemd-analyze")
@pytest.mark.parametrize("package", PACKAGES)
def test_installed_unit_verifies(installation: dict[str, Path], package: str) -> None:
    analyze = require_program("systemd-analyze", "apt-get install systemd")
    done = subprocess.run([analyze, "verify", str(UNIT_DIR / f"{package}.service")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_service_runs_under_systemd(installation: dict[str, Path]) -> None:
    if not systemd_runs():
        pytest.skip(
            "systemd is not PID 1: the tests below run the programs under the unit's sandbox minus systemd"
        )
    deadline = time.monotonic() + WAIT_SECONDS
    while run(["systemctl", "is-active", "fleetwatch-agent"], timeout=30).stdout.strip() != "active":
        assert time.monotonic() < deadline, run(["journalctl", "-u", "fleetwatch-agent", "-n", "50"]).stdout
        time.sleep(1)
    for package in PACKAGES:  # the tests below run the programs themselves on the same data folders
        run(["systemctl", "stop", package])


@pytest.fixture(scope="module")
def edited_config(
    installation: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """A technician's edit of agent.toml (collector address, a short interval), then the same package
    installed again and an upgrade: what dpkg must keep."""
    port = free_port()
    text = AGENT_CONFIG.read_text()
    text = re.sub(r"^addresses = \[.*\]$", f'addresses = ["127.0.0.1:{port}"]', text, count=1, flags=re.M)
    text = re.sub(r"^interval_seconds = .*$", "interval_seconds = 3.0", text, count=1, flags=re.M)
    AGENT_CONFIG.write_text(text)
    # A token placed the way install.md shows, before (re)installing: postinst gives it to the group.
    TOKEN.write_text("placeholder: the enrolment test writes a real token\n")
    TOKEN.chmod(0o600)
    run(["dpkg", "-i", str(installation["fleetwatch-agent"])])
    reinstalled = AGENT_CONFIG.read_text()
    token = TOKEN.stat()
    upgrade = upgraded_copy(installation["fleetwatch-agent"], tmp_path_factory.mktemp("upgrade"))
    run(["dpkg", "-i", str(upgrade)])
    if systemd_runs():  # postinst restarted the services: the tests below run the programs themselves
        for package in PACKAGES:
            run(["systemctl", "stop", package])
    return {"port": port, "edited": text, "reinstalled": reinstalled, "upgraded": AGENT_CONFIG.read_text(),
            "version": run(["dpkg-query", "-W", "-f=${Version}", "fleetwatch-agent"]).stdout,
            "token": (token.st_uid, token.st_gid, token.st_mode & 0o777)}  # fmt: skip


def upgraded_copy(deb: Path, work: Path) -> Path:
    """The same package under a higher version: an upgrade whose conffile did not change."""
    root = work / "root"
    run(["dpkg-deb", "--raw-extract", str(deb), str(root)])
    control = root / "DEBIAN" / "control"
    text = control.read_text()
    version = re.search(r"^Version: (.*)$", text, re.M).group(1)  # type: ignore[union-attr]
    control.write_text(text.replace(f"Version: {version}\n", f"Version: {version}+upgrade1\n"))
    target = work / f"fleetwatch-agent_{version}+upgrade1.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(target)])
    return target


def test_an_edited_config_survives_reinstall_and_upgrade(edited_config: dict[str, object]) -> None:
    assert str(edited_config["version"]).endswith("+upgrade1")
    assert edited_config["reinstalled"] == edited_config["edited"]
    assert edited_config["upgraded"] == edited_config["edited"]
    assert not list(AGENT_CONFIG.parent.glob("agent.toml.dpkg-*"))


def test_postinst_gives_a_placed_token_to_the_services_group_only(edited_config: dict[str, object]) -> None:
    assert edited_config["token"] == (0, grp.getgrnam("fleetwatch-agent").gr_gid, 0o640)


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def wait_for(condition: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, f"exited {process.returncode} before {what}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {what} after {WAIT_SECONDS} s:\n{log.read_text()}"
        time.sleep(0.2)


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.M).group(1)) * 1024  # type: ignore[union-attr]


def test_agent_enrols_with_the_token_file_and_reports_under_its_sandbox(
    edited_config: dict[str, object], tmp_path: Path
) -> None:
    collector_unit = unitfile.service(UNIT_DIR / "fleetwatch-collector.service")
    agent_unit = unitfile.service(UNIT_DIR / "fleetwatch-agent.service")
    grpc_port, http_port = int(edited_config["port"]), free_port()  # type: ignore[call-overload]
    collector_command = unitfile.last(collector_unit, "ExecStart").split()
    collector = start(
        unitfile.sandboxed(collector_unit, [*collector_command, "--grpc-listen", f"127.0.0.1:{grpc_port}",
                                            "--http-listen", f"127.0.0.1:{http_port}"]),
        tmp_path / "collector.log",
    )  # fmt: skip
    agent: subprocess.Popen[bytes] | None = None
    try:
        health = f"http://127.0.0.1:{http_port}/healthz"
        wait_for(lambda: _answers(health), "collector /healthz", collector, tmp_path / "collector.log")
        create = [
            "/usr/bin/fleetwatch-collector",
            "token",
            "create",
            "--site",
            SITE,
            "--data-dir",
            str(COLLECTOR_DATA),
        ]
        admin = unitfile.sandboxed(collector_unit, create)
        TOKEN.write_text(run(admin).stdout.strip() + "\n")  # keeps the owner and mode postinst gave it

        env = ("FLEETWATCH_LOOPBACK_ONLY=1",)  # never the machine's real gateway or DNS servers
        agent = start(unitfile.sandboxed(agent_unit, unitfile.last(agent_unit, "ExecStart").split(), env),
                      tmp_path / "agent.log")  # fmt: skip
        credential = AGENT_DATA / "credential.json"
        wait_for(credential.exists, "credential.json", agent, tmp_path / "agent.log")
        owner = credential.stat()
        assert (owner.st_uid, owner.st_mode & 0o777) == (pwd.getpwnam("fleetwatch-agent").pw_uid, 0o600)
        reported = re.compile(rf'^fleetwatch_agent_up\{{[^}}]*\bsite="{SITE}"[^}}]*\}} 1(\.0)?$', re.M)
        wait_for(lambda: reported.search(_metrics(http_port)), "the agent's first report", agent,
                 tmp_path / "agent.log")  # fmt: skip
        high = unitfile.size_bytes(unitfile.last(agent_unit, "MemoryHigh"))
        assert rss_bytes(agent.pid) < high, f"{rss_bytes(agent.pid)} bytes resident, MemoryHigh {high}"

        # What the technician runs to check an installation (as root, with the installed config).
        check = subprocess.run(["/usr/bin/fleetwatch-agent", "check", "--config", str(AGENT_CONFIG)],
                               capture_output=True, text=True, timeout=120, check=False,
                               env={**os.environ, "FLEETWATCH_LOOPBACK_ONLY": "1"})  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert json.loads(check.stdout)["collectors"][0]["status"] == "ok"
        listing = ["/usr/bin/fleetwatch-collector", "agent", "list", "--data-dir", str(COLLECTOR_DATA)]
        agents = run(unitfile.sandboxed(collector_unit, listing)).stdout
        assert SITE in agents, agents
    finally:
        if agent is not None:
            assert stop(agent) == 0, (tmp_path / "agent.log").read_text()
        assert stop(collector) == 0, (tmp_path / "collector.log").read_text()
    assert "Traceback" not in (tmp_path / "agent.log").read_text()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return ""


@pytest.mark.peer("clamd")
def test_clamd_log_is_readable_through_the_units_groups_only(installation: dict[str, Path]) -> None:
    require_program("clamd", "apt-get install clamav-daemon")
    log = Path("/var/log/clamav/clamav.log")
    if not log.exists():
        pytest.skip(f"{log} does not exist (clamav-daemon writes it at installation)")
    unit = unitfile.service(UNIT_DIR / "fleetwatch-agent.service")
    read = ["/opt/fleetwatch/agent/bin/python", "-c", f"open({str(log)!r}, 'rb').read(1)"]
    run(unitfile.sandboxed(unit, read))
    without_groups = {**unit, "SupplementaryGroups": []}
    denied = subprocess.run(unitfile.sandboxed(without_groups, read), capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert denied.returncode != 0 and "Permission denied" in denied.stderr, (log.stat(), denied.stderr)


def test_remove_keeps_config_and_data_purge_deletes_them(installation: dict[str, Path]) -> None:
    run(["dpkg", "-r", *PACKAGES])
    for package in PACKAGES:
        assert package_state(package) == "rc"  # removed, configuration files kept
    assert not Path("/opt/fleetwatch").exists()
    assert (
        not Path("/usr/bin/fleetwatch-agent").exists()
        and not (UNIT_DIR / "fleetwatch-agent.service").exists()
    )
    assert AGENT_CONFIG.exists() and Path("/etc/fleetwatch/collector.toml").exists()
    assert AGENT_DATA.is_dir() and COLLECTOR_DATA.is_dir()

    run(["dpkg", "-P", *PACKAGES])
    for package in PACKAGES:
        assert package_state(package) == "absent"
    for gone in (Path("/etc/fleetwatch"), AGENT_DATA, COLLECTOR_DATA, PING_SYSCTL,
                 WANTS / "fleetwatch-agent.service", WANTS / "fleetwatch-collector.service"):  # fmt: skip
        assert not gone.exists() and not gone.is_symlink(), gone
    # The system users stay: files elsewhere (backups, logs) may still carry their ids.
    assert pwd.getpwnam("fleetwatch-agent") and shutil.which("dpkg")
