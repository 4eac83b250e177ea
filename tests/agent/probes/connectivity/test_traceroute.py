"""The traceroute limiter, the child's output, run_traceroute against a fake scapy in the child."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity import traceroute
from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute import PathLimiter, parse_output, run_traceroute

# No packet leaves the host in this file: the traceroute child runs against a fake scapy.
ADDRESS = "127.0.0.2"


# ---- traceroute limiter and output -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_allows_one_traceroute_per_target_per_interval() -> None:
    clock = FakeClock()
    limiter = PathLimiter(900.0, clock)
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")
    assert limiter.allow("collector")  # targets are limited separately
    clock.now += 899.0
    assert not limiter.allow("gateway")
    clock.now += 1.0
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")  # the interval starts again from the allowed one


def test_limiter_refusals_do_not_push_the_next_run_back() -> None:
    clock = FakeClock()
    limiter = PathLimiter(60.0, clock)
    assert limiter.allow("dns-1")
    for _ in range(5):
        clock.now += 10.0
        assert not limiter.allow("dns-1")
    clock.now += 10.0
    assert limiter.allow("dns-1")


def test_per_hop_timeout_fits_the_hops_in_the_budget_within_bounds() -> None:
    assert traceroute.per_hop_timeout(16, 10.0) == pytest.approx(0.5)
    assert traceroute.per_hop_timeout(1, 60.0) == traceroute.MAX_PER_HOP_SECONDS
    assert traceroute.per_hop_timeout(64, 1.0) == traceroute.MIN_PER_HOP_SECONDS


OTHER = "10.0.9.9"


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "expected"),
    [
        (
            0,
            '{"paths": {"127.0.0.2": {"hops": 3, "last_hop": "10.199.3.2", "reached": true}}}\n',
            "",
            PathResult(3, "10.199.3.2", True),
        ),
        (
            0,
            'WARNING: noise\n{"paths": {"127.0.0.2": {"hops": 0, "last_hop": "", "reached": false}}}\n',
            "",
            PathResult(),
        ),
        (
            0,
            '{"paths": {"127.0.0.2": {"hops": 2, "last_hop": "10.0.0.2", "reached": false, "cut": true}}}\n',
            "",
            PathResult(2, "10.0.0.2", False, "timeout: cut at the path budget"),
        ),
        (4, '{"error": "not_permitted: needs root"}\n', "", PathResult(error="not_permitted: needs root")),
        (0, '{"paths": {"127.0.0.2": {"hops": true, "last_hop": "x", "reached": false}}}\n', "", None),
        (0, '{"paths": {"127.0.0.2": {"hops": -1, "last_hop": "x", "reached": false}}}\n', "", None),
        (0, '{"paths": {"127.0.0.2": {"hops": 1, "last_hop": 5, "reached": false}}}\n', "", None),
        (0, '{"paths": {"10.0.0.1": {"hops": 1, "last_hop": "x", "reached": false}}}\n', "", None),
        (0, '{"hops": 1, "last_hop": "x", "reached": false}\n', "", None),
        (0, "[1, 2]\n", "", None),
        (0, "garbage\n", "", None),
        (0, "", "", None),
        (1, "", "Traceback ...\nSystemError: boom\n", None),
        (-9, '{"paths": {"127.0.0.2": {"hops": 1, "last_hop": "x", "reached": false}}}', "", None),
    ],
)
def test_child_output_mapping(returncode: int, stdout: str, stderr: str, expected: PathResult | None) -> None:
    result = parse_output(returncode, stdout, stderr, [ADDRESS])[ADDRESS]
    if expected is not None:
        assert result == expected
    else:
        assert result.error.startswith("failed: ") and (result.hops, result.reached) == (0, False)
    if returncode == 1:
        assert "SystemError: boom" in result.error


def test_child_output_has_a_path_for_every_address() -> None:
    stdout = json.dumps({"paths": {ADDRESS: {"hops": 1, "last_hop": "x", "reached": False}}})
    results = parse_output(0, stdout, "", [ADDRESS, OTHER])
    assert set(results) == {ADDRESS, OTHER}
    assert all(r.error.startswith("failed: unexpected output") for r in results.values())


# ---- run_traceroute against a fake scapy in the child ---------------------------------------------

FAKE_LAYERS = """
class Layer:
    def __init__(self, **fields):
        self.fields = fields
    def __getattr__(self, name):
        return self.fields[name]
    def __truediv__(self, other):
        return Packet(self, other)
class Packet:
    def __init__(self, ip, icmp):
        self.ip, self.icmp = ip, icmp
    def __getitem__(self, layer):
        return self.ip if layer is IP else self.icmp
class IP(Layer): pass
class ICMP(Layer): pass
"""

# FAKE_SCAPY: {ttl: [ICMP type, sender]} for every destination, or {"by_target": {destination: {...}}};
# or a behaviour word. FAKE_SCAPY_PER_ROUND: at most that many answers per sr() call (rate limits);
# FAKE_SCAPY_DELAY: seconds each sr() call takes.
FAKE_SENDRECV = """
import json, os, time
from scapy.layers.inet import ICMP, IP
class Answer:
    def __init__(self, kind, source):
        self.kind, self.source = kind, source
    def __contains__(self, layer):
        return True
    def __getitem__(self, layer):
        return type("L", (), {"src": self.source, "type": self.kind})()
def sr(probes, timeout, verbose):
    behaviour = os.environ["FAKE_SCAPY"]
    per_round = int(os.environ.get("FAKE_SCAPY_PER_ROUND", "1000"))
    time.sleep(float(os.environ.get("FAKE_SCAPY_DELAY", "0")))
    answered = []
    for probe in probes:
        with open(os.environ["FAKE_SCAPY_LOG"], "a") as log:
            log.write(f"{probe.ip.fields['ttl']} {timeout} {probe.ip.fields['dst']}\\n")
        if behaviour == "not_root":
            raise PermissionError(1, "Operation not permitted")
        if behaviour == "hang":
            time.sleep(60)
        if behaviour == "crash":
            raise RuntimeError("boom")
        table = json.loads(behaviour)
        table = table.get("by_target", {}).get(probe.ip.fields["dst"], {}) if "by_target" in table else table
        answer = table.get(str(probe.ip.fields["ttl"]))
        if answer and len(answered) < per_round:
            answered.append((probe, Answer(*answer)))
    return answered, []
"""


@pytest.fixture
def fake_scapy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake scapy package first on the child's path; returns the file where it logs each probe."""
    package = tmp_path / "scapy"
    (package / "layers").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("conf = type('Conf', (), {})()\n")
    (package / "layers" / "__init__.py").write_text("")
    (package / "layers" / "inet.py").write_text(FAKE_LAYERS)
    (package / "sendrecv.py").write_text(FAKE_SENDRECV)
    log = tmp_path / "probes.log"
    log.touch()
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("FAKE_SCAPY_LOG", str(log))
    return log


def probed_ttls(log: Path) -> list[int]:
    return [int(line.split()[0]) for line in log.read_text().splitlines()]


def test_scapy_missing_is_unsupported(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fake_scapy.parent / "scapy" / "sendrecv.py").unlink()
    monkeypatch.setenv("FAKE_SCAPY", "{}")
    result = run_traceroute(ADDRESS, 5, 20.0)
    assert result.error.startswith("unsupported: scapy is not installed"), result
    assert probed_ttls(fake_scapy) == []


def test_not_root_is_not_permitted(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "not_root")
    result = run_traceroute(ADDRESS, 5, 20.0)
    assert result.error.startswith("not_permitted: "), result
    assert "CAP_NET_RAW" in result.error


def test_exception_in_the_child_is_failed(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "crash")
    assert run_traceroute(ADDRESS, 5, 20.0).error == "failed: RuntimeError: boom"


def test_child_that_does_not_finish_is_a_timeout(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "hang")
    result = run_traceroute(ADDRESS, 5, 3.0)
    assert result == PathResult(error="timeout: no result within 3 s")


def test_ipv6_is_refused_before_starting_a_child(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "{}")
    assert run_traceroute("::1").error.startswith("unsupported: ")
    assert probed_ttls(fake_scapy) == []


@pytest.mark.parametrize(
    ("answers", "expected", "ttls"),
    [
        pytest.param(
            {"1": [11, "10.0.0.1"], "2": [11, "10.0.1.1"], "3": [0, ADDRESS]},
            PathResult(3, ADDRESS, True),
            [1, 2, 3],
            id="reached: stops at the destination",
        ),
        pytest.param(
            {"1": [11, "10.0.0.1"], "2": [3, "10.0.1.1"], "3": [0, ADDRESS]},
            PathResult(2, "10.0.1.1", False),
            [1, 2],
            id="a router says unreachable: the path ends there",
        ),
        pytest.param(
            {"1": [11, "10.0.0.1"], "3": [11, "10.0.2.1"]},
            PathResult(3, "10.0.2.1", False),
            [1, 2, 2, 3, 4, 4, 5, 6],  # the first silent hop after an answer is asked again once
            id="one silent router is skipped, three silent hops end the trace",
        ),
        pytest.param({}, PathResult(), [1, 1, 2, 3], id="nothing answers"),
    ],
)
def test_child_walks_the_ttls(
    fake_scapy: Path,
    monkeypatch: pytest.MonkeyPatch,
    answers: dict[str, list[object]],
    expected: PathResult,
    ttls: list[int],
) -> None:
    monkeypatch.setenv("FAKE_SCAPY", json.dumps(answers))
    assert run_traceroute(ADDRESS, 15, 20.0) == expected
    assert probed_ttls(fake_scapy) == ttls


def test_child_stops_at_max_hops(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", json.dumps({str(ttl): [11, f"10.0.{ttl}.1"] for ttl in range(1, 20)}))
    assert run_traceroute(ADDRESS, 4, 10.0) == PathResult(4, "10.0.4.1", False)
    timeouts = {float(line.split()[1]) for line in fake_scapy.read_text().splitlines()}
    assert timeouts == {traceroute.per_hop_timeout(4, 10.0)}


def test_one_child_traces_every_target_in_rounds(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a router answering one error per round (a rate limit), every path still gets its hop."""
    targets = ["10.0.5.1", "10.0.5.2", "10.0.5.3"]
    behind = {"1": [11, "10.0.0.1"], "2": [3, "10.0.0.1"]}
    table = {"by_target": {t: behind for t in targets}}
    monkeypatch.setenv("FAKE_SCAPY", json.dumps(table))
    monkeypatch.setenv("FAKE_SCAPY_PER_ROUND", "1")
    results = traceroute.run_traceroutes(targets, 15, 30.0)
    assert results == dict.fromkeys(targets, PathResult(2, "10.0.0.1", False))
    lines = fake_scapy.read_text().splitlines()
    assert {line.split()[2] for line in lines} == set(targets)


def test_a_child_out_of_time_keeps_its_hops(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hop answers (a long path): the child's own deadline stops it with what it found."""
    monkeypatch.setenv("FAKE_SCAPY", json.dumps({str(ttl): [11, f"10.0.{ttl}.1"] for ttl in range(1, 65)}))
    monkeypatch.setenv("FAKE_SCAPY_DELAY", "0.1")
    result = run_traceroute(ADDRESS, 64, 3.0)
    assert result.error == "timeout: cut at the path budget"
    assert result.hops >= 1 and result.last_hop == f"10.0.{result.hops}.1" and not result.reached


def test_invalid_and_ipv6_addresses_start_no_child(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "{}")
    results = traceroute.run_traceroutes(["::1", "portal.example"], 5, 5.0)
    assert results["::1"].error.startswith("unsupported: ::1: traceroute is IPv4 only")
    assert results["portal.example"].error.startswith("unsupported: ")
    assert probed_ttls(fake_scapy) == []
