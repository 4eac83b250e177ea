"""The command lines of fleetwatch-agent and fleetwatch-collector, run as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from fleetwatch_agent import __version__ as agent_version
from fleetwatch_agent.probes import PROBES
from fleetwatch_collector import __version__ as collector_version
from tests.e2e.support import (
    ProcessGroup,
    agent_toml,
    console_script,
    create_token,
    read_credential,
    start_collector,
    two_free_ports,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

AGENT = "fleetwatch-agent"
COLLECTOR = "fleetwatch-collector"
# A command that should answer at once; generous so a loaded machine never makes a test flaky.
COMMAND_TIMEOUT_SECONDS = 60.0


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(script), *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """Exit ``code``, an error on stderr that contains every fragment, and no traceback."""
    assert result.returncode == code, f"exit {result.returncode}, stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, f"a traceback instead of an error message:\n{result.stderr}"
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in stderr:\n{result.stderr}"


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        (AGENT, ("run", "check", "enroll")),
        (COLLECTOR, ("run", "token", "agent", "tls", "metrics-doc")),
    ],
)
def test_help_lists_the_commands(script: str, commands: tuple[str, ...]) -> None:
    result = run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")
    for command in commands:
        assert command in result.stdout


@pytest.mark.parametrize(("script", "version"), [(AGENT, agent_version), (COLLECTOR, collector_version)])
def test_version(script: str, version: str) -> None:
    result = run(script, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{script} {version}"


def test_agent_check_prints_this_host_as_json() -> None:
    result = run(AGENT, "check", "--no-collector")
    assert result.returncode == 0, f"check failed:\n{result.stderr}"
    document = json.loads(result.stdout)
    resources = document["results"]["resources"]
    assert resources["memory_total_bytes"] == psutil.virtual_memory().total
    assert resources["cpu_count"] == psutil.cpu_count()
    assert document["host"]["hostname"] == socket.gethostname().split(".")[0]
    assert [p["name"] for p in document["probes"]] == [
        probe.name for probe in PROBES if probe.config_type().enabled
    ]
    assert {"name": "resources", "success": True} in [
        {k: p[k] for k in ("name", "success")} for p in document["probes"]
    ]


@pytest.mark.parametrize(
    ("toml", "option"),
    [
        ('[collector]\nadress = ["127.0.0.1:50051"]\n', "collector.adress"),
        ("[probes.resources]\nignore_interface = []\n", "probes.resources.ignore_interface"),
        ('[agnet]\nid = "x"\n', "agnet"),
    ],
)
def test_agent_run_refuses_unknown_option(tmp_path: Path, toml: str, option: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(toml)
    result = run(AGENT, "run", "--config", str(config))
    assert_clean_failure(result, 2, f"unknown option {option!r}", str(config))


@pytest.mark.parametrize(
    ("toml", "option"),
    [
        ("[limits]\nmax_mesage_bytes = 1024\n", "limits.max_mesage_bytes"),
        ('[server]\ngrpc_listen = "127.0.0.1:1"\nhttp = "127.0.0.1:2"\n', "server.http"),
    ],
)
def test_collector_run_refuses_unknown_option(tmp_path: Path, toml: str, option: str) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(toml)
    result = run(COLLECTOR, "run", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert_clean_failure(result, 2, f"unknown option {option!r}", str(config))


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999", ":50051", "127.0.0.1:port"])
def test_collector_run_refuses_bad_listen_address(tmp_path: Path, listen: str) -> None:
    result = run(COLLECTOR, "run", "--grpc-listen", listen, "--data-dir", str(tmp_path / "data"))
    assert_clean_failure(result, 2, "server.grpc_listen", repr(listen), "HOST:PORT")


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port held by a listening socket (without SO_REUSEPORT) for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("which", ["grpc", "http"])
def test_collector_on_a_port_in_use_exits_with_a_clear_message(
    tmp_path: Path, occupied_port: int, which: str
) -> None:
    free = two_free_ports()[0]
    grpc_port, http_port = (occupied_port, free) if which == "grpc" else (free, occupied_port)
    result = run(
        COLLECTOR,
        "run",
        "--grpc-listen",
        f"127.0.0.1:{grpc_port}",
        "--http-listen",
        f"127.0.0.1:{http_port}",
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, f"a traceback instead of an error message:\n{result.stderr}"
    # The operator must learn which of the two addresses is taken.
    assert f"127.0.0.1:{occupied_port}" in result.stderr, result.stderr
    assert "in use" in result.stderr.lower(), result.stderr


def test_second_collector_on_the_same_grpc_port_exits(processes: ProcessGroup, tmp_path: Path) -> None:
    """Two collectors must never share a gRPC port (the kernel would split agents between them)."""
    first = start_collector(processes, tmp_path / "data-1", name="collector-1")
    _, http_port = two_free_ports()
    second = processes.spawn(
        [
            console_script(COLLECTOR),
            "run",
            "--grpc-listen",
            first.grpc_address,
            "--http-listen",
            f"127.0.0.1:{http_port}",
            "--data-dir",
            str(tmp_path / "data-2"),
        ],
        "collector-2",
    )
    outcome = wait_until(
        lambda: (
            "exited"
            if second.returncode is not None
            else "serving"
            if "collector serving" in second.stderr()
            else None
        ),
        "the second collector to exit or to serve",
        watch=(first.process,),
    )
    assert outcome == "exited", f"a second collector is serving on {first.grpc_address}\n{second.describe()}"
    assert second.returncode != 0
    assert "Traceback" not in second.stderr(), second.describe()
    assert first.grpc_address in second.stderr(), second.describe()


def test_agent_run_without_credential_or_token_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "agent-data", "127.0.0.1:1"))
    result = run(AGENT, "run", "--config", str(config))
    assert_clean_failure(result, 2, "not enrolled", "credential.json", "token_file")


def test_agent_refuses_a_credential_file_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "agent-data"
    data.mkdir()
    credential = data / "credential.json"
    credential.write_text('{"agent_id": "a-1", "secret": "s", "site": "", "district": "", "site_type": ""}')
    credential.chmod(0o644)
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(data, "127.0.0.1:1"))
    result = run(AGENT, "run", "--config", str(config))
    assert_clean_failure(result, 2, str(credential), "chmod 600")


def test_agent_enroll_without_a_token_exits_2(tmp_path: Path) -> None:
    result = run(AGENT, "enroll", "--collector", "127.0.0.1:1")
    assert_clean_failure(result, 2, "--token-file", "FLEETWATCH_ENROLL_TOKEN")


def test_token_create_list_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    token = create_token(tmp_path, "xa-an-cu", "--expires", "30m")
    token_id = token.split(".")[1]
    listing = run(COLLECTOR, "token", "list", *data)
    assert listing.returncode == 0, listing.stderr
    row = [line for line in listing.stdout.splitlines() if line.startswith(token_id)]
    assert len(row) == 1 and "xa-an-cu" in row[0] and row[0].endswith("False  0"), listing.stdout
    assert token.split(".")[2] not in listing.stdout, "token list shows the secret"
    revoked = run(COLLECTOR, "token", "revoke", token_id, *data)
    assert revoked.returncode == 0, revoked.stderr
    assert [line for line in run(COLLECTOR, "token", "list", *data).stdout.splitlines() if "True" in line]
    assert_clean_failure(run(COLLECTOR, "token", "revoke", "nonexistent", *data), 2, "nonexistent")


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (("--site", "xa-unknown"), ("--district", "--type")),
        (("--site", "Xã Tân"), ("--site", "slug")),
        (("--any-site", "--expires", "soon"), ("--expires", "'soon'")),
        (("--any-site", "--expires", "0d"), ("--expires",)),
    ],
    ids=["unknown-site", "not-a-slug", "bad-duration", "zero-duration"],
)
def test_token_create_refuses_bad_options(
    tmp_path: Path, options: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    result = run(COLLECTOR, "token", "create", *options, "--data-dir", str(tmp_path))
    assert_clean_failure(result, 2, *fragments)
    assert result.stdout == "", "a refused token create printed a token"


def test_agent_enroll_with_the_environment_token(processes: ProcessGroup, tmp_path: Path) -> None:
    collector = start_collector(processes, tmp_path / "collector-data")
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "agent-data", collector.grpc_address))
    token = create_token(tmp_path / "collector-data", "xa-an-cu")
    refused = run_with_env(
        AGENT, {"FLEETWATCH_ENROLL_TOKEN": token[:-2] + "zz"}, "enroll", "--config", str(config)
    )
    assert_clean_failure(refused, 1, "UNAUTHENTICATED", "not known")
    enrolled = run_with_env(AGENT, {"FLEETWATCH_ENROLL_TOKEN": token}, "enroll", "--config", str(config))
    assert enrolled.returncode == 0, enrolled.stderr
    credential = read_credential(tmp_path / "agent-data")
    assert (credential["site"], credential["district"], credential["site_type"]) == (
        "xa-an-cu",
        "h-cai-be",
        "commune",
    )
    assert f"enrolled as {credential['agent_id']} at site xa-an-cu" in enrolled.stdout


def check(config: Path) -> subprocess.CompletedProcess[str]:
    """`fleetwatch-agent check`, whose JSON must parse whatever the verdict."""
    result = run(AGENT, "check", "--config", str(config))
    assert "Traceback" not in result.stderr, result.stderr
    json.loads(result.stdout)
    return result


def test_agent_check_tells_the_collector_verdict_and_writes_nothing(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    collector = start_collector(processes, tmp_path / "collector-data")
    address = collector.grpc_address
    data = tmp_path / "absent" / "agent-data"
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(data, address))
    # Not enrolled: the collector answers, so it is reachable; `enroll` is what to do.
    result = check(config)
    assert_clean_failure(result, 1, f"collector {address}: not_enrolled", "fleetwatch-agent enroll")
    assert not (tmp_path / "absent").exists(), "check created the data folder"
    # With collector.token_file, `run` will enrol: nothing to fix.
    token = write_token_file(tmp_path / "site.token", create_token(tmp_path / "collector-data", "xa-an-cu"))
    config.write_text(agent_toml(data, address, collector={"token_file": str(token)}))
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert f"collector {address}: ok: reachable; not enrolled yet" in result.stderr
    # Enrolled: the collector accepts the credential; check adds no spool and no sequence file.
    enrolled = run(AGENT, "enroll", "--config", str(config), "--token-file", str(token))
    assert enrolled.returncode == 0, enrolled.stderr
    before = sorted(path.name for path in data.iterdir())
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert f"collector {address}: ok: OK" in result.stderr
    assert result.stderr.rstrip().endswith("check ok")
    assert json.loads(result.stdout)["collectors"] == [{"address": address, "status": "ok", "detail": "OK"}]
    assert sorted(path.name for path in data.iterdir()) == before == ["credential.json"]
    # A collector that does not know this agent refuses the credential.
    other = start_collector(processes, tmp_path / "other-collector-data", name="other-collector")
    config.write_text(agent_toml(data, other.grpc_address))
    result = check(config)
    assert_clean_failure(
        result, 1, f"collector {other.grpc_address}: refused: UNAUTHENTICATED", "check failed"
    )
    # Nothing listens: unreachable.
    closed = f"127.0.0.1:{two_free_ports()[0]}"
    config.write_text(agent_toml(data, closed))
    result = check(config)
    assert_clean_failure(result, 1, f"collector {closed}: unreachable: UNAVAILABLE")


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ('data_dir = "C:\\new\\fleetwatch"', ("'agent.data_dir'", "single quotes", "forward slashes")),
        ('data_dir = "C:\\data\\fleetwatch"', ("line 3", "'agent.data_dir'", "single quotes")),
        ("interval_seconds =", ("line 3", "'agent.interval_seconds'", "missing")),
        ('interval_seconds = "15"', ("'agent.interval_seconds'", "without quotes")),
    ],
    ids=["backslash-escape", "backslash-invalid", "missing-value", "quoted-number"],
)
def test_agent_configuration_errors_name_the_option(
    tmp_path: Path, line: str, fragments: tuple[str, ...]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f"# written on Windows\n[agent]\n{line}\n", encoding="utf-8")
    result = run(AGENT, "run", "--config", str(config))
    assert_clean_failure(result, 2, str(config), *fragments)


def test_agent_reads_a_configuration_saved_by_notepad_with_a_byte_order_mark(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[agent]\ninterval_seconds = 5000\n", encoding="utf-8-sig")
    assert config.read_bytes().startswith(b"\xef\xbb\xbf")
    # Parsed, so the (deliberately) wrong value is what gets reported, not the BOM.
    result = run(AGENT, "run", "--config", str(config))
    assert_clean_failure(result, 2, "option agent.interval_seconds: must be between")


def run_with_env(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(script), *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, **env),
        check=False,
    )
