"""Helpers for tests that run real fleetwatch processes: console scripts, process lifecycle, /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto import metadata
from tests.conftest import free_port

T = TypeVar("T")
# Generous: a loaded CI runner may take seconds to start a Python process.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


def console_script(name: str) -> str:
    """A console script of the venv running the tests (works in any venv, activated or not)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{path} does not exist; install the project into this venv: pip install -e '.[dev]'")
    return str(path)


def two_free_ports() -> tuple[int, int]:
    """Two distinct free loopback ports."""
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


class ManagedProcess:
    """A subprocess with its output in files; ``stop`` ends it for sure (terminate, wait, kill)."""

    def __init__(self, args: list[str], log_dir: Path, name: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.args = args
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stdout: IO[bytes] = self.stdout_path.open("wb")
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr, env=env
        )

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def describe(self) -> str:
        """Exit status and output tails, for assertion messages."""
        return (
            f"{self.name} ({' '.join(self.args)}) returncode={self.returncode}\n"
            f"--- stdout ---\n{self.stdout()[-3000:]}\n--- stderr ---\n{self.stderr()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss would; waits until the process is gone."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT_SECONDS)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM and wait; SIGKILL when it does not exit in time. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._stdout.close()
        self._stderr.close()
        return self.popen.returncode

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; fails the test (and kills it) after ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.name} did not exit within {timeout:g}s\n{self.describe()}")


class ProcessGroup:
    """Processes started by one test or module; ``stop_all`` ends the ones still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []

    def spawn(self, args: list[str], name: str) -> ManagedProcess:
        process = ManagedProcess(args, self.log_dir, name)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def wait_until(
    predicate: Callable[[], T | None],
    what: str,
    timeout: float = START_TIMEOUT_SECONDS,
    interval: float = 0.1,
    watch: Iterable[ManagedProcess] = (),
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail early if a watched process exits."""
    watched = tuple(watch)
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        for process in watched:
            if process.returncode is not None:
                pytest.fail(f"{process.name} exited while waiting for {what}\n{process.describe()}")
        if time.monotonic() > deadline:
            details = "\n".join(p.describe() for p in watched)
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{details}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """Status and body of a GET; (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)


def fetch_metrics(url: str) -> str:
    status, body = http_get(url)
    assert status == 200, f"GET {url}: {status} {body[:500]}"
    return body


def parse_samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def find_samples(samples: Iterable[Sample], name: str, **labels: str) -> list[Sample]:
    """Samples of ``name`` whose labels include ``labels``."""
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def value_of(samples: Iterable[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample matching, None when there is none; fails when several match."""
    found = find_samples(samples, name, **labels)
    assert len(found) <= 1, f"{len(found)} samples of {name} match {labels}: {found}"
    return found[0].value if found else None


@dataclass
class CollectorProcess:
    """A running ``fleetwatch-collector run`` subprocess and its addresses."""

    process: ManagedProcess
    grpc_address: str
    http_address: str

    @property
    def metrics_url(self) -> str:
        return f"http://{self.http_address}/metrics"

    def samples(self) -> list[Sample]:
        return parse_samples(fetch_metrics(self.metrics_url))


def start_collector(
    group: ProcessGroup, data_dir: Path, name: str = "collector", config: Path | None = None
) -> CollectorProcess:
    """Start a collector on free loopback ports and wait until /healthz answers ok."""
    grpc_port, http_port = two_free_ports()
    process = group.spawn(
        [
            console_script("fleetwatch-collector"),
            "run",
            *(["--config", str(config)] if config else []),
            "--grpc-listen",
            f"127.0.0.1:{grpc_port}",
            "--http-listen",
            f"127.0.0.1:{http_port}",
            "--data-dir",
            str(data_dir),
        ],
        name,
    )
    collector = CollectorProcess(process, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{http_port}")
    wait_until(
        lambda: http_get(f"http://{collector.http_address}/healthz", timeout=2.0)[0] == 200,
        f"{name} /healthz",
        watch=(process,),
    )
    return collector


def toml_string(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


def run_command(script: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a console script to completion (generous timeout: a loaded machine must not fail a test)."""
    return subprocess.run(
        [console_script(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def create_token(data_dir: Path, site: str | None = None, *options: str) -> str:
    """A token made by `fleetwatch-collector token create` (None: --any-site); stdout is the token alone."""
    where = ["--any-site"] if site is None else ["--site", site]
    result = run_command(
        "fleetwatch-collector", "token", "create", *where, *options, "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, f"token create failed:\n{result.stderr}"
    token = result.stdout.strip()
    assert result.stdout == token + "\n", f"stdout is not the token alone: {result.stdout!r}"
    assert token.startswith("fwt1.") and token.count(".") == 2, token
    return token


def write_token_file(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def enrolled_identity(server: CollectorServer, site: SiteLabels | None = None) -> enrolment.Enrolled:
    """Enrol one agent in-process into a running CollectorServer's store (None: an any-site token)."""
    now = time.time()
    token = enrolment.create_token(server.store, site, now, None)
    return enrolment.enrol(server.store, token, now)


def auth_metadata(agent_id: str, secret: str) -> tuple[tuple[str, str], ...]:
    """The call metadata of an authenticated Push."""
    return ((metadata.AGENT_ID, agent_id), (metadata.AUTHORIZATION, f"{metadata.BEARER} {secret}"))


def identity_metadata(identity: enrolment.Enrolled) -> tuple[tuple[str, str], ...]:
    return auth_metadata(identity.agent_id, identity.secret)


def read_credential(agent_data_dir: Path) -> dict[str, str]:
    """The agent's credential.json (agent_id, secret, site, district, site_type)."""
    data: dict[str, str] = json.loads((agent_data_dir / "credential.json").read_text())
    return data


def agent_toml(
    data_dir: Path,
    address: str,
    *,
    interval: float = 1,
    site: tuple[str, str, str, str] = ("xa-tan-my-chanh", "tp-my-tho", "commune", "Xã Tân Mỹ Chánh"),
    collector: dict[str, str] | None = None,
) -> str:
    """An agent configuration; ``collector`` adds string options (tls, ca_file, token_file, ...)."""
    slug, district, site_type, name = site
    extra = "".join(f"{key} = {toml_string(value)}\n" for key, value in (collector or {}).items())
    return f"""
[agent]
# A machine of its own per data folder: test agents share this host's machine id.
id = {toml_string(("e2e-" + data_dir.name)[:64])}
data_dir = {toml_string(str(data_dir))}
interval_seconds = {interval}

[site]
slug = {toml_string(slug)}
district = {toml_string(district)}
type = {toml_string(site_type)}
name = {toml_string(name)}

[collector]
addresses = [{toml_string(address)}]
timeout_seconds = 5.0
{extra}"""
