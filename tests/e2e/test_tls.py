"""TLS and mutual TLS between real agent and collector processes, with certificates from `tls init`."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.support import (
    CollectorProcess,
    ManagedProcess,
    ProcessGroup,
    agent_toml,
    console_script,
    create_token,
    read_credential,
    run_command,
    start_collector,
    toml_string,
    value_of,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

# An agent that cannot connect logs its first failed enrolment at once; generous all the same.
FAILURE_LOG_SECONDS = 20.0
DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Lab:
    """Certificates from `tls init`/`tls client`, a TLS collector and a mutual-TLS collector."""

    certs: Path
    tls: CollectorProcess
    tls_token: Path
    mtls: CollectorProcess
    mtls_token: Path


def tls_collector_config(path: Path, certs: Path, client_ca: bool) -> Path:
    lines = [
        "[tls]",
        f"cert_file = {toml_string(str(certs / 'server.pem'))}",
        f"key_file = {toml_string(str(certs / 'server-key.pem'))}",
    ]
    if client_ca:
        lines.append(f"client_ca_file = {toml_string(str(certs / 'ca.pem'))}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("tls")
    certs = tmp / "certs"
    made = run_command(
        "fleetwatch-collector",
        "tls",
        "init",
        "--dir",
        str(certs),
        "--name",
        "127.0.0.1",
        "--name",
        "localhost",
    )
    assert made.returncode == 0, made.stderr
    client = run_command("fleetwatch-collector", "tls", "client", "--dir", str(certs), "--cn", "pc1")
    assert client.returncode == 0, client.stderr
    group = ProcessGroup(tmp / "logs")
    try:
        configs = [tls_collector_config(tmp / f"{n}.toml", certs, n == "mtls") for n in ("tls", "mtls")]
        tls = start_collector(group, tmp / "tls-data", "collector-tls", config=configs[0])
        mtls = start_collector(group, tmp / "mtls-data", "collector-mtls", config=configs[1])
        for collector in (tls, mtls):
            assert "(TLS)" in collector.process.stderr(), collector.process.describe()
        yield Lab(
            certs,
            tls,
            write_token_file(tmp / "tls-token", create_token(tmp / "tls-data")),
            mtls,
            write_token_file(tmp / "mtls-token", create_token(tmp / "mtls-data")),
        )
    finally:
        group.stop_all()


def test_tls_init_writes_private_keys_readable_by_their_owner_only(lab: Lab) -> None:
    for name in ("ca-key.pem", "server-key.pem", "client-pc1-key.pem"):
        assert stat.S_IMODE((lab.certs / name).stat().st_mode) == 0o600, name
    for name in ("ca.pem", "server.pem", "client-pc1.pem"):
        assert (lab.certs / name).read_text().startswith("-----BEGIN CERTIFICATE-----"), name


def write_agent_config(tmp_path: Path, collector: CollectorProcess, **options: str) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "agent-data", collector.grpc_address, collector=options))
    return config


def run_agent(processes: ProcessGroup, config: Path) -> ManagedProcess:
    return processes.spawn([console_script("fleetwatch-agent"), "run", "--config", str(config)], "agent")


def wait_reporting(collector: CollectorProcess, agent: ManagedProcess, agent_data: Path) -> None:
    """The agent enrols (if it has not yet) and shows up in the collector's /metrics."""
    wait_until((agent_data / "credential.json").exists, "credential.json", DEADLINE_SECONDS, watch=(agent,))
    agent_id = read_credential(agent_data)["agent_id"]
    wait_until(
        lambda: value_of(collector.samples(), "fleetwatch_agent_up", agent_id=agent_id) == 1,
        f"agent {agent_id} up",
        DEADLINE_SECONDS,
        0.2,
        watch=(collector.process, agent),
    )


def assert_never_enrols(collector: CollectorProcess, agent: ManagedProcess, agent_data: Path) -> str:
    """The agent keeps running, logs that enrolment failed, and the collector enrolled nobody meanwhile."""
    before = value_of(collector.samples(), "fleetwatch_collector_enrolments_total", result="ok")
    wait_until(
        lambda: "enrolment failed" in agent.stderr(),
        "the agent to log its failed enrolment",
        FAILURE_LOG_SECONDS,
        watch=(agent, collector.process),
    )
    assert not (agent_data / "credential.json").exists()
    assert value_of(collector.samples(), "fleetwatch_collector_enrolments_total", result="ok") == before
    return agent.stderr()


def test_agent_enrolled_with_the_cli_reports_over_tls(
    lab: Lab, processes: ProcessGroup, tmp_path: Path
) -> None:
    config = write_agent_config(tmp_path, lab.tls, tls="on", ca_file=str(lab.certs / "ca.pem"))
    enrolled = run_command(
        "fleetwatch-agent",
        "enroll",
        "--collector",
        lab.tls.grpc_address,
        "--token-file",
        str(lab.tls_token),
        "--config",
        str(config),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    credential = read_credential(tmp_path / "agent-data")
    assert f"enrolled as {credential['agent_id']}" in enrolled.stdout
    assert stat.S_IMODE((tmp_path / "agent-data" / "credential.json").stat().st_mode) == 0o600
    assert credential["secret"] not in enrolled.stdout + enrolled.stderr, "the secret was printed"
    agent = run_agent(processes, config)
    wait_reporting(lab.tls, agent, tmp_path / "agent-data")


def test_agent_without_the_ca_does_not_trust_the_collector(
    lab: Lab, processes: ProcessGroup, tmp_path: Path
) -> None:
    # ca_file "" means the system's roots, which did not sign the collector's certificate.
    config = write_agent_config(tmp_path, lab.tls, tls="on", token_file=str(lab.tls_token))
    log = assert_never_enrols(lab.tls, run_agent(processes, config), tmp_path / "agent-data")
    assert "CERTIFICATE_VERIFY_FAILED" in log, log


def test_plaintext_agent_cannot_talk_to_a_tls_collector(
    lab: Lab, processes: ProcessGroup, tmp_path: Path
) -> None:
    config = write_agent_config(tmp_path, lab.tls, tls="off", token_file=str(lab.tls_token))
    log = assert_never_enrols(lab.tls, run_agent(processes, config), tmp_path / "agent-data")
    assert "UNAVAILABLE" in log, log


def test_agent_with_a_client_certificate_reports_over_mutual_tls(
    lab: Lab, processes: ProcessGroup, tmp_path: Path
) -> None:
    config = write_agent_config(
        tmp_path,
        lab.mtls,
        tls="on",
        ca_file=str(lab.certs / "ca.pem"),
        cert_file=str(lab.certs / "client-pc1.pem"),
        key_file=str(lab.certs / "client-pc1-key.pem"),
        token_file=str(lab.mtls_token),
    )
    wait_reporting(lab.mtls, run_agent(processes, config), tmp_path / "agent-data")


def test_agent_without_a_client_certificate_is_refused_by_mutual_tls(
    lab: Lab, processes: ProcessGroup, tmp_path: Path
) -> None:
    config = write_agent_config(
        tmp_path, lab.mtls, tls="on", ca_file=str(lab.certs / "ca.pem"), token_file=str(lab.mtls_token)
    )
    log = assert_never_enrols(lab.mtls, run_agent(processes, config), tmp_path / "agent-data")
    assert "UNAVAILABLE" in log, log


@pytest.mark.parametrize("command", ["run", "enroll"])
def test_agent_with_a_missing_ca_file_exits_with_a_message(lab: Lab, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "no-such-ca.pem"
    config = write_agent_config(
        tmp_path, lab.tls, tls="on", ca_file=str(missing), token_file=str(lab.tls_token)
    )
    extra = ["--token-file", str(lab.tls_token)] if command == "enroll" else []
    result = run_command("fleetwatch-agent", command, "--config", str(config), *extra, timeout=30)
    assert "Traceback" not in result.stderr, f"a traceback instead of an error message:\n{result.stderr}"
    assert result.returncode == 2, result.stderr
    assert "ca_file" in result.stderr and str(missing) in result.stderr, result.stderr


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port held by a listening socket: binding the wildcard address to it would fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_plaintext_beyond_loopback_is_refused_before_binding(tmp_path: Path, occupied_port: int) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        f"[server]\ngrpc_listen = {toml_string(f'0.0.0.0:{occupied_port}')}\n"
        f"http_listen = {toml_string(f'127.0.0.1:{occupied_port}')}\n"
        f"data_dir = {toml_string(str(tmp_path / 'data'))}\n"
    )
    result = run_command("fleetwatch-collector", "run", "--config", str(config), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "tls.cert_file" in result.stderr and "0.0.0.0" in result.stderr, result.stderr
    # Had it tried to bind first, the occupied port would have made it fail with "in use".
    assert "in use" not in result.stderr, result.stderr
    assert "collector serving" not in result.stderr
