"""Workstations do not pay for pysnmp: a default agent never imports it; a probe of v2c devices loads the
poller but not pysnmp (SNMPv3 only needs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.agent.probes.snmp.test_config import snmp_toml

# A whole `check` cycle of the agent in a fresh interpreter, then the SNMP modules it holds.
SCRIPT = """
import sys
from fleetwatch_agent import cli
code = cli.main(["check", "--no-collector", "--config", sys.argv[1]])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pysnmp", "fleetwatch_snmp", "pyasn1"))
print("code", code, "loaded", ",".join(loaded), file=sys.stderr)
"""
QUICK = "[probes.connectivity]\ngateway = false\ntraceroute = false\ncount = 1\ncollector = false\n"


def loaded_after_check(tmp_path: Path, probes: str) -> tuple[int, set[str], str]:
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\n{QUICK}{probes}', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("code "), result.stderr
    _, code, _, modules = [*last.split(" "), ""][:4]
    return int(code), set(filter(None, modules.split(","))), result.stderr


def test_a_default_agent_never_imports_pysnmp(tmp_path: Path) -> None:
    code, loaded, stderr = loaded_after_check(tmp_path, "")
    assert code == 0, stderr
    assert loaded == set(), f"a default agent imported {sorted(loaded)[:10]}"


def test_an_agent_polling_a_v2c_device_loads_the_poller_but_not_pysnmp(tmp_path: Path) -> None:
    """The control: the same check with the probe on (its device on a closed port) loads the poller."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    devices = '[[probes.snmp.devices]]\nname = "r1"\naddress = "127.0.0.1:9"\ncredential = "site-v2c"\n'
    settings = "timeout_seconds = 2.0\ndeadline_seconds = 1.0\nrequest_timeout_seconds = 0.5\nretries = 0\n"
    _, loaded, stderr = loaded_after_check(tmp_path, snmp_toml(folder, devices, settings))
    assert "fleetwatch_snmp.poller" in loaded, stderr
    assert not {"pysnmp", "pyasn1"} & loaded, sorted(loaded)
    assert "snmp: 1 devices, 0 reachable, 1 not" in stderr
