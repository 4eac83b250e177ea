"""The resources kind: its values validated, rendered from the newest report, one series per name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    accepted,
    families,
    parsed_samples,
    refused,
    report,
    resources,
    valid_report,
)


def text_of(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


RESOURCE_TEXT: list[tuple[str, Callable[[pb.Report, str], None]]] = [
    (
        "resources.filesystems[0].mountpoint",
        lambda r, v: setattr(r.resources.filesystems[0], "mountpoint", v),
    ),
    ("resources.filesystems[0].fstype", lambda r, v: setattr(r.resources.filesystems[0], "fstype", v)),
    ("resources.interfaces[0].name", lambda r, v: setattr(r.resources.interfaces[0], "name", v)),
]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("m" * 257, "longer than 256 bytes"),
        ("/a\n", "control character '\\n' at 2"),
        ("ext\x854", "control character '\\x85' at 3"),
    ],
    ids=["long", "newline", "c1"],
)
@pytest.mark.parametrize(("path", "put"), RESOURCE_TEXT, ids=[p for p, _ in RESOURCE_TEXT])
def test_resource_text_refused(
    path: str, put: Callable[[pb.Report, str], None], value: str, problem: str
) -> None:
    r = valid_report(2)
    put(r, value)
    rejection = refused(r)
    assert rejection.reason == "invalid_label"
    assert str(rejection) == f"reports[1].{path}: {problem}"


@pytest.mark.parametrize("cpu", [float("nan"), -0.1, 1.5, float("inf")], ids=["nan", "neg", "over", "inf"])
def test_cpu_ratio_out_of_range(cpu: float) -> None:
    r = valid_report(2)
    r.resources.cpu_utilization_ratio = cpu
    rejection = refused(r)
    assert rejection.reason == "invalid_value"
    assert str(rejection).startswith("reports[1].resources.cpu_utilization_ratio: ")
    assert "not in [0, 1]" in str(rejection)


@pytest.mark.parametrize("cpu", [0.0, 1.0])
def test_cpu_ratio_bounds_pass(cpu: float) -> None:
    r = valid_report()
    r.resources.cpu_utilization_ratio = cpu
    accepted(r)


@pytest.mark.parametrize("which", ["load1", "load5", "load15"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -1.0])
def test_load_not_finite(which: str, value: float) -> None:
    r = valid_report(2)
    setattr(r.resources.load, which, value)
    rejection = refused(r)
    assert rejection.reason == "invalid_value"
    assert str(rejection).startswith("reports[1].resources.load: ")


def test_load_absent_means_no_load_families() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    res = resources()
    res.ClearField("load")
    fleet.apply("win", [report(1, res=res)])
    names = {f.name for f in families(text_of(fleet))}
    assert "fleetwatch_host_cpu_utilization_ratio" in names
    assert not {"fleetwatch_host_load1", "fleetwatch_host_load5", "fleetwatch_host_load15"} & names


@pytest.mark.parametrize("field", ["filesystems", "interfaces"])
def test_names_equal_after_sanitizing_give_one_series(field: str) -> None:
    """Names that sanitize alike would give twin series: only the first one is rendered."""
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = report(1, res=resources())
    for name in ("/mnt/a\x00", "/mnt/a\x01"):  # both pass validation and both render as "/mnt/a?"
        if field == "filesystems":
            r.resources.filesystems.add(mountpoint=name, fstype="ext4", size_bytes=1)
        else:
            r.resources.interfaces.add(name=name, up=True)
    fleet.apply("a1", [r])
    keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in parsed_samples(text_of(fleet))]
    assert len(keys) == len(set(keys)), "duplicate series in the exposition"
