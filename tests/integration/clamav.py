"""A real ClamAV for tests: signature databases built with sigtool, and clamd on its own files.

``build_database`` makes a ``daily.cud`` holding one signature for the EICAR test string, with
``sigtool --unsigned --build`` (under ``faketime`` for an old database). ``running_clamd``
starts ``clamd -c FILE`` in the foreground on a unix socket and on 127.0.0.1:<free port>,
waits until it answers PING and stops it when the block ends, also when a test fails.
Nothing here touches /var/lib/clamav or the system's clamd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import free_port, require_program

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Eicar-Test-Sig"
# clamd reports signatures of unsigned (.cud/.ndb) databases with this suffix.
DETECTED_AS = f"{SIGNATURE}.UNOFFICIAL"
DATABASE_VERSION = 27100
INSTALL_HINT = "apt-get install clamav clamav-daemon"
# Generous: clamd loads its databases in 2-3 s here, a loaded CI runner may take much longer.
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
SOCKET_TIMEOUT_SECONDS = 30.0


def program(name: str, hint: str = INSTALL_HINT) -> str:
    """Path of a ClamAV program (skips, or fails under FLEETWATCH_REQUIRE_PEERS=1, when missing)."""
    return require_program(name, hint)


def eicar_hex(sigtool: str) -> str:
    """Hex of the EICAR marker as sigtool writes it into a body-based (.ndb) signature."""
    result = subprocess.run(
        [sigtool, "--hex-dump"],
        input=b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE",
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode().strip()


def build_database(
    directory: Path,
    *,
    version: int = DATABASE_VERSION,
    age: str | None = None,
    sigtool: str | None = None,
    faketime: str | None = None,
) -> Path:
    """Build ``directory/daily.cud`` with the EICAR signature and return its path.

    ``age`` (e.g. ``"30 days ago"``) builds it under faketime, so its header carries that build
    time; only the container lands in ``directory``, so clamd loads nothing else.
    """
    sigtool = sigtool or program("sigtool")
    command = [sigtool, "--unsigned", f"--cvd-version={version}", "--no-cdiff"]
    if age is not None:
        faketime = faketime or program("faketime", "apt-get install faketime")
        command = [faketime, age, *command]
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fw-sigtool-") as work_dir:
        work = Path(work_dir)
        (work / "daily.ndb").write_text(f"{SIGNATURE}:0:*:{eicar_hex(sigtool)}\n")
        (work / "COPYING").write_text("test signatures for fleetwatch\n")
        # sigtool asks for a builder name, then for confirmations.
        result = subprocess.run(
            [*command, f"--datadir={work}", "--build=daily.cud"],
            cwd=work,
            input=b"builder\n" + b"y\n" * 8,
            capture_output=True,
            timeout=120,
            check=False,
        )
        built = work / "daily.cud"
        if result.returncode != 0 or not built.exists():
            pytest.fail(
                f"sigtool could not build a database (exit {result.returncode}):\n"
                f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}"
            )
        target = directory / "daily.cud"
        shutil.move(built, target)
    return target


def read_header(path: Path) -> list[str]:
    """The colon-separated fields of a database's 512-byte header."""
    return path.read_bytes()[:512].rstrip(b"\0 ").decode("ascii").split(":")


def engine_version(clamd: str) -> str:
    """The engine version ``clamd --version`` prints (``ClamAV 1.4.6`` -> ``1.4.6``)."""
    output = subprocess.run([clamd, "--version"], capture_output=True, text=True, timeout=60, check=True)
    return output.stdout.strip().removeprefix("ClamAV ").split("/")[0]


def write_eicar(path: Path) -> Path:
    path.write_bytes(EICAR)
    return path


def database_dir(tmp_path: Path, database: Path | None) -> Path:
    """A new ``db`` directory under ``tmp_path`` holding a copy of ``database`` (empty when None)."""
    directory = tmp_path / "db"
    directory.mkdir()
    if database is not None:
        shutil.copy(database, directory / database.name)
    return directory


@dataclass
class Clamd:
    """A clamd of one test: its configuration, sockets, log; ``start``/``stop`` may be repeated."""

    binary: str
    run_dir: Path  # short path: a unix socket path must fit in 108 bytes
    database_dir: Path
    log_path: Path
    tcp_port: int
    extra_config: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    _output: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.run_dir / "clamd.conf"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "clamd.sock"

    @property
    def tcp_address(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    @property
    def output_path(self) -> Path:
        return self.run_dir / "clamd.output"

    def write_config(self) -> None:
        lines = [
            f"DatabaseDirectory {self.database_dir}",
            f"LocalSocket {self.socket_path}",
            f"TCPSocket {self.tcp_port}",
            "TCPAddr 127.0.0.1",
            f"LogFile {self.log_path}",
            "LogTime yes",
            "Foreground yes",
            f"PidFile {self.run_dir / 'clamd.pid'}",
            *(["User root"] if os.geteuid() == 0 else []),
            *self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def describe(self) -> str:
        output = self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        code = self.process.poll() if self.process else None
        return (
            f"clamd -c {self.config_path} exit={code}\n"
            f"--- output ---\n{output[-3000:]}\n--- log ---\n{log[-3000:]}"
        )

    def start(self) -> None:
        """Start clamd and wait until it answers PING on its unix socket."""
        assert self.process is None or self.process.poll() is not None, "clamd is already running"
        self.write_config()
        self._output = self.output_path.open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ping():
            if self.process.poll() is not None:
                pytest.fail(f"clamd exited while starting\n{self.describe()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"clamd did not answer PING within {START_TIMEOUT_SECONDS:g}s\n{self.describe()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL when it does not exit in time); no-op when not running."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def reopen_log(self) -> None:
        """SIGHUP: clamd reopens its log file, as logrotate's postrotate does."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGHUP)

    def command(self, payload: bytes) -> str:
        """Send one z-command on the unix socket and read until clamd closes the connection; the
        reply lines (NUL-terminated on the wire) joined with newlines."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(SOCKET_TIMEOUT_SECONDS)
            sock.connect(str(self.socket_path))
            sock.sendall(payload)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        return reply.rstrip(b"\0").replace(b"\0", b"\n").decode(errors="replace")

    def ping(self) -> bool:
        try:
            return self.command(b"zPING\0") == "PONG"
        except OSError:
            return False

    def scan(self, path: Path) -> str:
        """SCAN a file through clamd (it reads the file itself), e.g. ``/x: Eicar... FOUND``."""
        return self.command(b"zSCAN " + str(path.resolve()).encode() + b"\0")

    def instream(self, data: bytes) -> str:
        """Scan bytes sent over the socket (INSTREAM)."""
        body = struct.pack("!L", len(data)) + data + struct.pack("!L", 0)
        return self.command(b"zINSTREAM\0" + body)

    def found_lines(self) -> list[str]:
        """FOUND lines of the current log file."""
        if not self.log_path.exists():
            return []
        return [
            line for line in self.log_path.read_text(errors="replace").splitlines() if line.endswith(" FOUND")
        ]


def wait_for_log(path: Path, text: str, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``text`` occurs ``count`` times in ``path`` (clamd logs just after it replies)."""
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text(errors="replace") if path.exists() else ""
        if content.count(text) >= count:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} did not appear {count}x in {path} within {timeout:g}s:\n{content[-3000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_clamd(
    database_dir: Path,
    log_path: Path | None = None,
    extra_config: tuple[str, ...] = (),
    start: bool = True,
) -> Iterator[Clamd]:
    """A clamd on ``database_dir`` (unix socket + TCP 127.0.0.1:<free port>), stopped at the end."""
    binary = program("clamd")
    with tempfile.TemporaryDirectory(prefix="fwclamd-") as run_dir:
        server = Clamd(
            binary=binary,
            run_dir=Path(run_dir),
            database_dir=database_dir,
            log_path=log_path or Path(run_dir) / "clamd.log",
            tcp_port=free_port(),
            extra_config=extra_config,
        )
        try:
            if start:
                server.start()
            yield server
        finally:
            server.stop()
