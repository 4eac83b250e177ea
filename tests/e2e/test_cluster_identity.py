"""Two real collector processes sharing a cluster key: each accepts the other's agents and tokens, both refuse
an id of the shared revoked file and a secret replaced by a newer enrolment; a collector without the key
refuses them as a lone collector always did."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.e2e.fleet_client import FleetClient, PlayedAgent
from tests.e2e.support import (
    CollectorProcess,
    ProcessGroup,
    console_script,
    find_samples,
    http_get,
    run_command,
    toml_string,
    two_free_ports,
    wait_until,
)

pytestmark = pytest.mark.e2e

SITE = "xa-an-cu"  # of the built-in inventory: the token carries its labels
LABELS = {"site": "xa-an-cu", "district": "h-cai-be", "site_type": "commune"}
MACHINE = "3d" * 32
CHECK_SECONDS = 0.2  # how often the members read the revoked file again


@dataclass
class Member:
    collector: CollectorProcess
    config: Path
    client: FleetClient


def member_config(
    path: Path, data_dir: Path, grpc_port: int, http_port: int, cluster: dict[str, str | list[str]] | None
) -> Path:
    lines = [
        "[server]",
        f"grpc_listen = {toml_string(f'127.0.0.1:{grpc_port}')}",
        f"http_listen = {toml_string(f'127.0.0.1:{http_port}')}",
        f"data_dir = {toml_string(str(data_dir))}",
        "[fleet]",
        f"check_seconds = {CHECK_SECONDS}",
    ]
    if cluster is not None:
        lines.append("[cluster]")
        for key, value in cluster.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(toml_string(v) for v in value)}]")
            else:
                lines.append(f"{key} = {toml_string(str(value))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_members(
    processes: ProcessGroup, tmp_path: Path, names: tuple[str, ...], shared: dict[str, str]
) -> dict[str, Member]:
    """Collectors on free loopback ports; those in ``shared`` form one cluster with these options."""
    ports = {name: two_free_ports() for name in names}
    addresses = {name: f"127.0.0.1:{ports[name][0]}" for name in names}
    members = [addresses[n] for n in names if shared and n != "lone"]
    started: dict[str, Member] = {}
    for name in names:
        cluster: dict[str, str | list[str]] | None = None
        if name != "lone":
            cluster = {"members": members, "self": addresses[name], **shared}
        config = member_config(tmp_path / f"{name}.toml", tmp_path / name, *ports[name], cluster)
        process = processes.spawn(
            [console_script("fleetwatch-collector"), "run", "--config", str(config)], name
        )
        collector = CollectorProcess(process, addresses[name], f"127.0.0.1:{ports[name][1]}")
        wait_until(
            lambda c=collector: http_get(f"http://{c.http_address}/healthz", timeout=2.0)[0] == 200,  # type: ignore[misc]
            f"{name} /healthz",
            watch=(process,),
        )
        started[name] = Member(collector, config, FleetClient(collector.grpc_address))
    return started


@pytest.fixture
def cluster(processes: ProcessGroup, tmp_path: Path) -> Iterator[tuple[dict[str, Member], Path]]:
    key = tmp_path / "cluster.key"
    key.write_bytes(os.urandom(64))
    key.chmod(0o600)
    revoked = tmp_path / "revoked-agents.txt"
    shared = {"key_file": str(key), "revoked_file": str(revoked)}
    members = start_members(processes, tmp_path, ("a", "b", "lone"), shared)
    try:
        yield members, revoked
    finally:
        for m in members.values():
            m.client.close()


def token_at(member: Member, *options: str) -> str:
    result = run_command(
        "fleetwatch-collector", "token", "create", "--site", SITE, *options, "--config", str(member.config)
    )
    assert result.returncode == 0, result.stderr
    assert "every member accepts it" in result.stderr
    return result.stdout.strip()


def pushed_labels(member: Member, agent: PlayedAgent) -> dict[str, str]:
    """Push one report of ``agent`` to ``member``; the labels of its fleetwatch_agent_up series there."""
    assert member.client.push(agent).acked_seq == agent.seq
    [up] = find_samples(member.collector.samples(), "fleetwatch_agent_up", agent_id=agent.agent_id)
    return {k: up.labels[k] for k in ("site", "district", "site_type", "host")}


def push_code(member: Member, agent: PlayedAgent) -> grpc.StatusCode:
    """The status of one Push of ``agent`` to ``member`` (a refused report is sent again next time)."""
    try:
        member.client.push(agent)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def test_one_identity_for_every_member(cluster: tuple[dict[str, Member], Path]) -> None:
    members, revoked_file = cluster
    a, b, lone = members["a"], members["b"], members["lone"]
    token = token_at(a)
    assert token.startswith("fw1.")

    # Enrolled at a, it pushes to b and is accepted there with the same labels.
    agent = a.client.enrol(token, "pc-ke-toan-01", site=SITE, machine_id=MACHINE)
    shown_at_a = pushed_labels(a, agent)
    assert shown_at_a == {**LABELS, "host": "pc-ke-toan-01"}
    assert pushed_labels(b, agent) == shown_at_a

    # Without the cluster key, a collector refuses it (and the token) as a lone collector always did.
    assert push_code(lone, agent) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        lone.client.enrol(token, "pc-ke-toan-09", site=SITE)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # A token made at a enrols at b.
    second = b.client.enrol(token, "pc-ke-toan-02", site=SITE)
    assert pushed_labels(b, second) == {**LABELS, "host": "pc-ke-toan-02"}
    assert pushed_labels(a, second) == {**LABELS, "host": "pc-ke-toan-02"}

    # Reinstalled, the first machine enrols again, at b: the same agent with a newer secret. a learns it
    # from the agent's next Push; from then on both refuse the old secret.
    again = b.client.enrol(token_at(a), "pc-ke-toan-01", site=SITE, machine_id=MACHINE)
    assert again.agent_id == agent.agent_id and again.secret != agent.secret
    assert push_code(b, agent) == grpc.StatusCode.UNAUTHENTICATED
    assert pushed_labels(a, again) == shown_at_a
    assert push_code(a, agent) == grpc.StatusCode.UNAUTHENTICATED
    assert pushed_labels(b, again) == shown_at_a

    # Revoked at a: into the shared file, which b reads within its check period.
    result = run_command(
        "fleetwatch-collector", "agent", "revoke", second.agent_id, "--config", str(a.config)
    )
    assert result.returncode == 0, result.stderr
    assert second.agent_id in revoked_file.read_text()
    assert push_code(a, second) == grpc.StatusCode.PERMISSION_DENIED
    wait_until(
        lambda: push_code(b, second) == grpc.StatusCode.PERMISSION_DENIED,
        "b to refuse the revoked agent",
        watch=(b.collector.process,),
    )
    assert push_code(a, second) == grpc.StatusCode.PERMISSION_DENIED
    assert pushed_labels(b, again) == shown_at_a, "another agent was refused"

    # An id listed by hand, of an agent b has never seen: refused by both once they read the file.
    third = a.client.enrol(token, "pc-ke-toan-03", site=SITE)
    pushed_labels(a, third)
    with revoked_file.open("a") as handle:
        handle.write(f"{third.agent_id}  # listed by hand\n")
    for m in (a, b):
        wait_until(
            lambda m=m: push_code(m, third) == grpc.StatusCode.PERMISSION_DENIED,  # type: ignore[misc]
            "the members to refuse an agent listed in the revoked file",
            watch=(m.collector.process,),
        )
    wait_until(
        lambda: not find_samples(a.collector.samples(), "fleetwatch_agent_up", agent_id=third.agent_id),
        "a to take the revoked agent off /metrics",
        watch=(a.collector.process,),
    )
