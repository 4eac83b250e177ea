"""Push validation: limits, identities, timestamps and values, each refused with its reason and field path."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import grpc
import pytest

from fleetwatch_collector.validate import Limits, Rejection, validate_push, validate_report
from fleetwatch_proto import limits as contract
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, SMALL, accepted, refused, valid_report

WEEK_MS = 7 * 86400 * 1000


def test_valid_push_passes() -> None:
    accepted(valid_report(1), valid_report(2), valid_report(3))
    accepted(valid_report(1), limits=Limits())


def test_empty_push_passes() -> None:
    accepted()


def test_too_many_reports() -> None:
    request = pb.PushRequest(reports=[valid_report(i) for i in range(1, 5)])
    with pytest.raises(Rejection) as info:
        validate_push(request, NOW_MS, SMALL)
    assert info.value.reason == "too_many_items"
    assert str(info.value) == "reports: 4 entries, at most 3 allowed"


def _add_filesystem(r: pb.Report) -> None:
    r.resources.filesystems.add(mountpoint=f"/m{len(r.resources.filesystems)}", fstype="ext4")


def _add_interface(r: pb.Report) -> None:
    r.resources.interfaces.add(name=f"eth{len(r.resources.interfaces)}")


def _add_event(r: pb.Report) -> None:
    r.events.add(time_unix_ms=NOW_MS, probe_failure=pb.ProbeFailure(probe="resources"))


def _add_probe(r: pb.Report) -> None:
    r.probes.add(name=f"probe{len(r.probes)}", success=True)


def _add_product(r: pb.Report) -> None:
    r.antivirus.products.add(name=f"av{len(r.antivirus.products)}")


def _add_target(r: pb.Report) -> None:
    r.connectivity.targets.add(name=f"t{len(r.connectivity.targets)}")


def _add_device(r: pb.Report) -> None:
    r.network_devices.add(name=f"router{len(r.network_devices)}")


def _add_device_interface(r: pb.Report) -> None:
    r.network_devices[0].interfaces.add(index=len(r.network_devices[0].interfaces) + 1)


COUNTED: list[tuple[Callable[[pb.Report], None], str, int]] = [
    (_add_filesystem, "resources.filesystems", len(valid_report().resources.filesystems)),
    (_add_interface, "resources.interfaces", len(valid_report().resources.interfaces)),
    (_add_event, "events", len(valid_report().events)),
    (_add_probe, "probes", len(valid_report().probes)),
    (_add_product, "antivirus.products", len(valid_report().antivirus.products)),
    (_add_target, "connectivity.targets", len(valid_report().connectivity.targets)),
    (_add_device, "network_devices", len(valid_report().network_devices)),
    (
        _add_device_interface,
        "network_devices[0].interfaces",
        len(valid_report().network_devices[0].interfaces),
    ),
]


@pytest.mark.parametrize(("add", "path", "initial"), COUNTED, ids=[c[1] for c in COUNTED])
def test_repeated_field_limits(add: Callable[[pb.Report], None], path: str, initial: int) -> None:
    at_limit = valid_report(2)
    for _ in range(2 - initial):  # every SMALL count limit is 2
        add(at_limit)
    accepted(valid_report(1), at_limit)

    over = valid_report(2)
    over.CopyFrom(at_limit)
    add(over)
    rejection = refused(over)
    assert rejection.reason == "too_many_items"
    assert str(rejection) == f"reports[1].{path}: 3 entries, at most 2 allowed"


def test_seq_zero() -> None:
    rejection = refused(pb.Report(seq=0, collected_unix_ms=NOW_MS, interval_seconds=15))
    assert (rejection.reason, rejection.code) == ("invalid_seq", grpc.StatusCode.INVALID_ARGUMENT)
    assert str(rejection).startswith("reports[1].seq:")


@pytest.mark.parametrize("seq", [2**63, 2**64 - 1])
def test_seq_beyond_int64_is_refused(seq: int) -> None:
    """The store keeps seqs in signed 64-bit SQLite integers."""
    rejection = refused(valid_report(seq))
    assert rejection.reason == "invalid_seq"
    assert str(rejection) == f"reports[1].seq: must be between 1 and {2**63 - 1}"


def test_seq_at_the_clock_in_milliseconds_passes() -> None:
    """An agent whose sequence file was lost restarts its numbering at its clock in milliseconds."""
    r = valid_report()
    r.seq = r.collected_unix_ms + SMALL.max_future_seconds * 1000
    accepted(r)


@pytest.mark.parametrize("seq", [2**63 - 1, NOW_MS + 301_000], ids=["int64-max", "beyond-the-clock"])
def test_seq_beyond_the_clock_in_milliseconds_is_invalid(seq: int) -> None:
    """No numbering reaches beyond the report's own clock: such a seq would freeze what is shown."""
    r = valid_report()
    r.seq = seq
    rejection = refused(r)
    assert rejection.reason == "invalid_seq"
    assert "beyond its collection time" in str(rejection)


@pytest.mark.parametrize("offset_ms", [SMALL.max_future_seconds * 1000, -WEEK_MS], ids=["future", "age"])
def test_timestamp_exactly_at_limit_passes(offset_ms: int) -> None:
    r = valid_report()
    r.collected_unix_ms = NOW_MS + offset_ms
    for event in r.events:  # what happened in the cycle it reports
        event.time_unix_ms = r.collected_unix_ms
    accepted(r)


@pytest.mark.parametrize(
    ("offset_ms", "reason", "fragment"),
    [
        (SMALL.max_future_seconds * 1000 + 1, "timestamp_future", "300s ahead"),
        (-WEEK_MS - 1, "timestamp_stale", "older than 604800s"),
    ],
    ids=["future", "stale"],
)
def test_timestamp_beyond_limit(offset_ms: int, reason: str, fragment: str) -> None:
    r = valid_report(2)
    r.collected_unix_ms = NOW_MS + offset_ms
    rejection = refused(r)
    assert rejection.reason == reason
    assert str(rejection).startswith("reports[1].collected_unix_ms:")
    assert fragment in str(rejection)


@pytest.mark.parametrize("interval", [0, 3601, 86400])
def test_interval_out_of_range(interval: int) -> None:
    r = valid_report(2)
    r.interval_seconds = interval
    rejection = refused(r)
    assert rejection.reason == "invalid_value"
    assert str(rejection) == "reports[1].interval_seconds: must be between 1 and 3600"


@pytest.mark.parametrize("interval", [1, 3600])
def test_interval_at_bounds_passes(interval: int) -> None:
    r = valid_report()
    r.interval_seconds = interval
    accepted(r)


def with_host(**fields: object) -> pb.Report:
    r = valid_report(2)
    for name, value in fields.items():
        setattr(r.host, name, value)
    return r


@pytest.mark.parametrize(
    ("hostname", "bad"),
    [
        ("pc\n01", "\n"),
        ('pc"01', '"'),
        ("pc\\01", "\\"),
        ("pc 01", " "),
        ("máy-01", "á"),
        ("pc-01\x00", "\x00"),
    ],
    ids=["newline", "quote", "backslash", "space", "non-ascii", "nul"],
)
def test_hostname_bad_character(hostname: str, bad: str) -> None:
    rejection = refused(with_host(hostname=hostname))
    assert rejection.reason == "invalid_hostname"
    assert str(rejection).startswith("reports[1].host.hostname: ")
    assert f"invalid character {bad!r}" in str(rejection)


@pytest.mark.parametrize("hostname", ["", "a" * 254, "a" * 1000], ids=["empty", "254", "1000"])
def test_hostname_empty_or_too_long(hostname: str) -> None:
    rejection = refused(with_host(hostname=hostname))
    assert rejection.reason == "invalid_hostname"
    assert str(rejection).startswith("reports[1].host.hostname: empty or longer than 253 bytes")
    assert len(str(rejection)) < 200  # the message quotes at most 64 characters of the value


@pytest.mark.parametrize("hostname", [".pc-01", "-pc-01", "-", "." + "a" * 300])
def test_hostname_leading_dot_or_dash(hostname: str) -> None:
    rejection = refused(with_host(hostname=hostname))
    assert rejection.reason == "invalid_hostname"
    assert str(rejection).startswith(
        "reports[1].host.hostname: must start with a letter, digit or underscore in "
    )
    assert len(str(rejection)) < 200


@pytest.mark.parametrize("hostname", ["a" * 253, "PC-KE_01.tg.gov.vn", "_gateway", "x", "9", "pc-01."])
def test_hostname_valid(hostname: str) -> None:
    accepted(with_host(hostname=hostname))


@pytest.mark.parametrize(
    ("field", "report_with_value"),
    [
        ("host.hostname", lambda: with_host(hostname="pc-01\n")),
        ("host.site", lambda: with_host(site="xa-tan-my-chanh\n")),
    ],
    ids=["hostname", "site"],
)
def test_trailing_newline_is_refused(field: str, report_with_value: Callable[[], pb.Report]) -> None:
    """`$` also matches before a final newline; the patterns must match the whole value."""
    rejection = refused(report_with_value())
    assert f"reports[1].{field}" in str(rejection)


def test_hostname_checked_only_when_host_present() -> None:
    r = valid_report()
    r.ClearField("host")
    accepted(r)


@pytest.mark.parametrize("field", ["site", "district"])
@pytest.mark.parametrize("value", ["Xa-Tan-My", "xã-tân", "xa tan", "-xa", "xa-", "a" * 65])
def test_slug_invalid(field: str, value: str) -> None:
    rejection = refused(with_host(**{field: value}))
    assert rejection.reason == "invalid_label"
    assert str(rejection).startswith(f"reports[1].host.{field}: ")
    assert "is not an ASCII slug" in str(rejection)


def test_empty_slugs_pass() -> None:
    accepted(with_host(site="", district=""))


@pytest.mark.parametrize(
    "field", ["os_family", "os_name", "os_version", "kernel", "arch", "agent_version", "site_name"]
)
def test_host_text_over_256_bytes(field: str) -> None:
    accepted(with_host(**{field: "é" * 128}))  # 256 bytes
    rejection = refused(with_host(**{field: "é" * 129}))  # 129 characters, 258 bytes
    assert rejection.reason == "invalid_label"
    assert str(rejection) == f"reports[1].host.{field}: longer than 256 bytes"


CONTROL = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f"]


@pytest.mark.parametrize("char", CONTROL, ids=[f"{ord(c):#04x}" for c in CONTROL])
@pytest.mark.parametrize("field", ["os_name", "kernel", "site_name"])
def test_host_text_with_control_character_is_refused(field: str, char: str) -> None:
    """Label-like strings carry no control character at all, newline and C1 included."""
    rejection = refused(with_host(**{field: f"Windows{char} 10"}))
    assert rejection.reason == "invalid_label"
    assert str(rejection) == f"reports[1].host.{field}: control character {char!r} at 7"


def test_non_ascii_text_without_controls_passes() -> None:
    accepted(with_host(os_name="Windows 10 Pro – Tiếng Việt 😀", site_name="Xã Tân Mỹ Chánh\u2028"))


def test_first_problem_is_reported_with_its_report_index() -> None:
    bad = valid_report(5)
    bad.interval_seconds = 0
    request = pb.PushRequest(reports=[valid_report(1), valid_report(2), bad])
    with pytest.raises(Rejection, match=r"^reports\[2\]\.interval_seconds"):
        validate_push(request, NOW_MS, SMALL)


def test_validate_report_uses_given_path() -> None:
    with pytest.raises(Rejection, match=r"^batch\.seq: must be between 1 and 9223372036854775807$"):
        validate_report("batch", pb.Report(interval_seconds=15, collected_unix_ms=NOW_MS), NOW_MS, SMALL)


def test_default_limits_match_the_contract() -> None:
    limits = Limits()
    limits.validate()
    assert limits.max_reports_per_push == contract.MAX_REPORTS_PER_PUSH == 500
    for field in dataclasses.fields(Limits):
        if hasattr(contract, field.name.upper()):
            assert getattr(limits, field.name) == getattr(contract, field.name.upper()), field.name
    assert limits.max_future_seconds == 300
    assert limits.max_age_seconds == 7 * 86400


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Limits)])
def test_limits_reject_zero(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: must be at least 1$"):
        dataclasses.replace(Limits(), **{name: 0}).validate()
