"""What every benchmark shares: the machine's description, a free loopback port, the results file."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach run appends its figures.\n\n"


def machine() -> str:
    """Host, CPU model, cores, memory and Python version, for the results file."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    python = platform.python_version()
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {python}"


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def append_results(path: Path, text: str) -> None:
    """Append one run's section to the results file, creating it with its header."""
    if not path.exists():
        path.write_text(HEADER)
    with path.open("a") as handle:
        handle.write(text)


def section_header(name: str, command: str) -> list[str]:
    """The first lines of one run's section: title with the date, machine, command, table head."""
    return [
        f"## {name} — {utc_now()}",
        "",
        f"Machine: {machine()}",
        f"Command: `{command}`",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
    ]


def stop(process: subprocess.Popen[bytes] | None, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
