"""A real net-snmp snmpd on 127.0.0.1 standing in for a site's router; restartable with another config."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import require_program

COMMUNITY = "fw-test-community"
V3_USER = "fwmon"
AUTH_KEY = "fw-auth-pass-123"
PRIV_KEY = "fw-priv-pass-456"
START_SECONDS = 15.0
# ifOperStatus and ifType of ifIndex 1 (lo on Linux): snmpd answers these values instead of the
# kernel's, so a test can take "the router's" interface down by restarting snmpd.
IF_OPER_STATUS_1 = "1.3.6.1.2.1.2.2.1.8.1"
IF_TYPE_1 = "1.3.6.1.2.1.2.2.1.3.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Snmpd:
    """One snmpd on a fixed loopback UDP port; ``start(lo_up=...)`` again after ``stop`` keeps the port."""

    def __init__(self, folder: Path) -> None:
        self.program = require_program("snmpd", "apt-get install snmpd")
        self.folder = folder
        self.port = free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self, lo_up: bool) -> Path:
        persistent = self.folder / "persistent"  # never the config's folder: snmpd writes snmpd.conf there
        persistent.mkdir(parents=True, exist_ok=True)
        config = self.folder / f"snmpd-{self.starts}.conf"
        config.write_text(
            "sysName snmpd-site-router\n"
            f"rocommunity {COMMUNITY} 127.0.0.1\n"
            f'createUser {V3_USER} SHA "{AUTH_KEY}" AES "{PRIV_KEY}"\n'
            f"rouser {V3_USER} priv\n"
            # lo as an Ethernet interface (loopbacks are left out by the poller), up or down at will.
            f"override {IF_TYPE_1} integer 6\n"
            f"override {IF_OPER_STATUS_1} integer {1 if lo_up else 2}\n"
            f"[snmp] persistentDir {persistent}\n",
            encoding="utf-8",
        )
        return config

    def start(self, lo_up: bool = True) -> None:
        assert self.process is None, "already running"
        config = self._config(lo_up)
        log = (self.folder / f"snmpd-{self.starts}.log").open("wb")
        self.starts += 1
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.folder / "persistent"))
        self.process = subprocess.Popen(
            # -C: only this config; -I -smux: no SMUX port (several snmpd at once); -m "": no MIB files.
            [self.program, "-C", "-c", str(config), "-I", "-smux", "-m", "", "-Lo", "-f",
             f"udp:{self.address}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        log.close()
        self._wait_answering()

    def _wait_answering(self) -> None:
        """Until a v2c GET of sysName answers (snmpd binds its port a moment after it starts)."""
        request = _get_sysname_v2c(COMMUNITY)
        deadline = time.monotonic() + START_SECONDS
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.log()
                sock.sendto(request, ("127.0.0.1", self.port))
                try:
                    if sock.recv(4096):
                        return
                except OSError:
                    continue
        raise AssertionError(f"snmpd did not answer on {self.address}\n{self.log()}")

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("snmpd-*.log")))

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, lo_up: bool) -> None:
        self.stop()
        self.start(lo_up)


def _get_sysname_v2c(community: str) -> bytes:
    """A BER-encoded SNMPv2c GetRequest of sysName.0 (no SNMP library needed to wait for the daemon)."""

    def tlv(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body

    oid = bytes([0x2B, 6, 1, 2, 1, 1, 5, 0])  # 1.3.6.1.2.1.1.5.0
    varbind = tlv(0x30, tlv(0x06, oid) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, varbind))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community.encode()) + pdu)


@contextmanager
def running_snmpd(folder: Path, lo_up: bool = True) -> Iterator[Snmpd]:
    daemon = Snmpd(folder)
    daemon.start(lo_up)
    try:
        yield daemon
    finally:
        daemon.stop()
