"""Real SNMP peers for tests: net-snmp snmpd (v2c community, v3 authPriv user) and snmpsim recordings.

Both listen on 127.0.0.1 at a free UDP port, are started by the test and stopped when it ends. Use the
fixtures (``snmpd``, ``snmpsim`` built from ``snmpsim_recordings``) or the context managers.
"""

from __future__ import annotations

import bz2
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.target import DeviceTarget
from tests.conftest import REPO_ROOT, require_program

SNMPD = "/usr/sbin/snmpd"
SNMPSIM = REPO_ROOT / ".venv" / "bin" / "snmpsim-command-responder"
SNMPSIM_DATA = REPO_ROOT / ".venv" / "lib" / "python3.11" / "site-packages" / "snmpsim_data" / "data"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0

SNMPD_COMMUNITY = "public-test"
SNMPD_SYS_NAME = "snmpd-test"
SNMPD_USER = "monuser"
SNMPD_AUTH_KEY = "authpass123"
SNMPD_PRIV_KEY = "privpass123"

# What the poller reads: the system group, ifTable, ifXTable. Recordings are cut to these subtrees
# (snmpsim answers a trimmed recording several times faster).
POLLED_SUBTREES = ("1.3.6.1.2.1.1.", "1.3.6.1.2.1.2.2.1.", "1.3.6.1.2.1.31.1.1.1.")


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tlv(tag: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 0x80:
        return bytes((tag, size)) + payload
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + payload


def v2c_get_sysuptime(community: str, request_id: int = 1) -> bytes:
    """A v2c GET of sysUpTime.0, BER-encoded by hand (enough to see whether an agent answers)."""
    oid = bytes((0x2B, 6, 1, 2, 1, 1, 3, 0))  # 1.3.6.1.2.1.1.3.0
    varbind = _tlv(0x30, _tlv(0x06, oid) + b"\x05\x00")
    pdu = _tlv(0xA0, _tlv(0x02, bytes((request_id,))) + b"\x02\x01\x00\x02\x01\x00" + _tlv(0x30, varbind))
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, community.encode()) + pdu)


def answers(port: int, community: str, timeout: float = 0.3) -> bool:
    """Whether an agent on 127.0.0.1:port answers a v2c GET with ``community``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(v2c_get_sysuptime(community), ("127.0.0.1", port))
        try:
            return bool(sock.recv(65535))
        except OSError:
            return False


@dataclass
class Peer:
    """A running agent process on 127.0.0.1:port."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(command: list[str], port: int, community: str, log_path: Path, env: dict[str, str]) -> Peer:
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    peer = Peer(process, port, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not answers(port, community):
        if process.poll() is not None or time.monotonic() > deadline:
            peer.stop()
            raise RuntimeError(f"{command[0]} did not answer on 127.0.0.1:{port}:\n{peer.log()[-2000:]}")
    return peer


# --- net-snmp snmpd ---------------------------------------------------------------------------------


@dataclass
class Snmpd(Peer):
    """snmpd with the community ``public-test`` and the v3 authPriv (SHA/AES) user ``monuser``."""

    def v2c(self, name: str = "snmpd-v2c", community: str = SNMPD_COMMUNITY) -> Credential:
        return Credential(name, "2c", community=community)

    def v3(
        self,
        name: str = "snmpd-v3",
        user: str = SNMPD_USER,
        auth_key: str = SNMPD_AUTH_KEY,
        priv_key: str = SNMPD_PRIV_KEY,
    ) -> Credential:
        return Credential(
            name,
            "3",
            user=user,
            auth_protocol="sha",
            auth_key=auth_key,
            priv_protocol="aes",
            priv_key=priv_key,
        )

    def target(
        self, credential: Credential | None = None, name: str = "snmpd", **options: object
    ) -> DeviceTarget:
        return DeviceTarget(name, self.address, credential or self.v2c(), **options)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_snmpd(workdir: Path, extra_config: str = "") -> Iterator[Snmpd]:
    """snmpd on a free UDP port of 127.0.0.1 with its state in ``workdir``; stopped at the end."""
    require_program(SNMPD, "apt-get install snmpd")
    persistent = workdir / "persist"
    persistent.mkdir(parents=True, exist_ok=True)
    config = workdir / "snmpd.conf"
    config.write_text(
        f"sysName       {SNMPD_SYS_NAME}\n"
        f"rocommunity   {SNMPD_COMMUNITY} 127.0.0.1\n"
        f'createUser    {SNMPD_USER} SHA "{SNMPD_AUTH_KEY}" AES "{SNMPD_PRIV_KEY}"\n'
        f"rouser        {SNMPD_USER} priv\n"
        f"[snmp] persistentDir {persistent}\n" + extra_config
    )
    port = free_udp_port()
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(persistent)}
    command = [SNMPD, "-C", "-c", str(config), "-m", "", "-Lo", "-f", f"udp:127.0.0.1:{port}"]
    peer = _start(command, port, SNMPD_COMMUNITY, workdir / "snmpd.log", env)
    try:
        yield Snmpd(peer.process, peer.port, peer.log_path)
    finally:
        peer.stop()


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """One snmpd per test module."""
    with running_snmpd(tmp_path_factory.mktemp("snmpd")) as peer:
        yield peer


# --- snmpsim ----------------------------------------------------------------------------------------


@dataclass
class Snmpsim(Peer):
    """snmpsim serving a data dir: the community names the recording (its path without extension)."""

    def target(self, recording: str, name: str | None = None, **options: object) -> DeviceTarget:
        credential = Credential("sim-" + recording.replace("/", "-"), "2c", community=recording)
        device = name or recording.replace("/", "-")
        return DeviceTarget(device, self.address, credential, **options)  # type: ignore[arg-type]


def read_recording(source: str) -> list[str]:
    """The lines of a recording of snmpsim-data (its path under the data dir: .snmprec or .snmprec.bz2)."""
    path = SNMPSIM_DATA / source
    raw = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
    return raw.decode("utf-8", errors="replace").splitlines()


def trimmed(lines: Iterable[str], subtrees: Iterable[str] = POLLED_SUBTREES) -> list[str]:
    """The lines of a recording under ``subtrees`` (OID prefixes ending with a dot)."""
    prefixes = tuple(subtrees)
    return [line for line in lines if line.startswith(prefixes)]


def write_recording(data_dir: Path, name: str, lines: Iterable[str]) -> str:
    """Write ``name.snmprec`` under ``data_dir`` (lines sorted by OID as snmpsim needs); its community."""
    path = data_dir / f"{name}.snmprec"
    path.parent.mkdir(parents=True, exist_ok=True)

    def oid_key(line: str) -> tuple[int, ...]:
        return tuple(int(part) for part in line.split("|", 1)[0].split("."))

    path.write_text("\n".join(sorted(lines, key=oid_key)) + "\n")
    return name


@contextlib.contextmanager
def running_snmpsim(data_dir: Path, workdir: Path, community: str) -> Iterator[Snmpsim]:
    """snmpsim serving ``data_dir`` on a free UDP port of 127.0.0.1 (ready once ``community`` answers)."""
    if not SNMPSIM.exists():
        require_program("snmpsim-command-responder", "pip install snmpsim snmpsim-data")
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    port = free_udp_port()
    command = [
        str(SNMPSIM),
        f"--data-dir={data_dir}",
        f"--cache-dir={cache}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        "--log-level=error",
    ]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    peer = _start(command, port, community, workdir / "snmpsim.log", env)
    try:
        yield Snmpsim(peer.process, peer.port, peer.log_path)
    finally:
        peer.stop()
        shutil.rmtree(cache, ignore_errors=True)


# Recordings of real devices served by the shared ``snmpsim`` fixture, by community.
SIM_RECORDINGS = {
    # H3C Comware 7 switch: 91 interfaces (81 ethernet), ifHC* counters.
    "many-interfaces": "network/switch/h3c-comware-7-1-075.snmprec.bz2",
    # Brocade DS-5100B: an ifXTable without any ifHC* counter.
    "no-hc-counters": "network/switch/brocade-ds-5100b.snmprec.bz2",
    # Ubiquiti M5: no ifXTable at all.
    "no-ifxtable": "network/wifi/ubiquiti-m5.snmprec.bz2",
}
# A one-interface device whose 32-bit ifInOctets counts WRAP_RATE per second from WRAP_INITIAL and
# wraps at 2**32 (snmpsim's ``numeric`` variation, time since the simulator started).
WRAPPING = "wrapping"
WRAP_RATE = 1_000_000_000
WRAP_INITIAL = 3_000_000_000


def wrapping_recording() -> list[str]:
    entry = "1.3.6.1.2.1.2.2.1"
    return [
        "1.3.6.1.2.1.1.1.0|4|wrapping counter",
        "1.3.6.1.2.1.1.3.0|67:numeric|rate=100,initial=100",
        "1.3.6.1.2.1.1.5.0|4|wrapping",
        f"{entry}.1.1|2|1",
        f"{entry}.2.1|4|wan0",
        f"{entry}.3.1|2|6",
        f"{entry}.5.1|66|1000000000",
        f"{entry}.7.1|2|1",
        f"{entry}.8.1|2|1",
        f"{entry}.10.1|65:numeric|rate={WRAP_RATE},initial={WRAP_INITIAL},max={2**32},wrap=1",
        f"{entry}.16.1|65|5",
    ]


def sim_data_dir(data_dir: Path) -> Path:
    """A data dir with SIM_RECORDINGS (trimmed to the polled subtrees) and the wrapping device."""
    for community, source in SIM_RECORDINGS.items():
        write_recording(data_dir, community, trimmed(read_recording(source)))
    write_recording(data_dir, WRAPPING, wrapping_recording())
    return data_dir


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """One snmpsim per test module serving ``sim_data_dir`` (communities: SIM_RECORDINGS, WRAPPING)."""
    workdir = tmp_path_factory.mktemp("snmpsim")
    with running_snmpsim(sim_data_dir(workdir / "data"), workdir, WRAPPING) as peer:
        yield peer
