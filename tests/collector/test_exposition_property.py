"""Property: any text in free-form label fields renders as a valid exposition that parses back sanitized."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.textformat import sanitize
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import check_metrics, full_report, parsed_samples

# Characters that break naive text formats, mixed with any Unicode scalar value (no surrogates:
# protobuf strings are UTF-8), including non-BMP ones.
TRICKY = list('\\"\n\r\t\x00\x1b\x7f\x85\u2028😀{},=# ')
LABEL_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")),
    max_size=300,
)
FIELDS = ("os_name", "site_name", "mountpoint", "fstype", "interface", "probe_error")
LABEL_FIELDS = st.fixed_dictionaries(dict.fromkeys(FIELDS, LABEL_TEXT))


def report_with(values: dict[str, str]) -> pb.Report:
    r = full_report(1, os_name=values["os_name"], site_name=values["site_name"])
    r.resources.filesystems[0].mountpoint = values["mountpoint"]
    r.resources.filesystems[0].fstype = values["fstype"]
    r.resources.interfaces[0].name = values["interface"]
    r.probes[1].error = values["probe_error"]
    return r


def render_text(fleet: FleetState) -> str:
    body, _, _ = fleet.render()
    return body.decode("utf-8")


def shape(text: str) -> Counter[tuple[str, frozenset[str]]]:
    """Which samples there are, by name and label names: independent of the label values."""
    return Counter((name, frozenset(labels)) for name, labels, _ in parsed_samples(text))


def _benign_shape() -> Counter[tuple[str, frozenset[str]]]:
    fleet = FleetState(clock=lambda: 0.0)
    fleet.apply("agent-1", [report_with(dict.fromkeys(FIELDS, "plain"))])
    return shape(render_text(fleet))


BENIGN_SHAPE = _benign_shape()


@settings(max_examples=50, deadline=None)
@given(values=LABEL_FIELDS)
def test_any_label_text_parses_back_sanitized(values: dict[str, str]) -> None:
    fleet = FleetState(clock=lambda: 0.0)
    fleet.apply("agent-1", [report_with(values)])
    text = render_text(fleet)

    samples = parsed_samples(text)
    assert shape(text) == BENIGN_SHAPE  # nothing injected, nothing lost
    for name, labels, _ in samples:
        assert (labels["agent_id"], labels["host"]) == ("agent-1", "pc-ke-01")
        if name == "fleetwatch_agent_info":
            assert labels["os_name"] == sanitize(values["os_name"])
            assert labels["site_name"] == sanitize(values["site_name"])
        if name.startswith("fleetwatch_host_filesystem_"):
            assert labels["mountpoint"] == sanitize(values["mountpoint"])
            assert labels["fstype"] == sanitize(values["fstype"])
        if name.startswith("fleetwatch_host_network_"):
            assert labels["interface"] == sanitize(values["interface"])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(agents=st.lists(LABEL_FIELDS, min_size=4, max_size=4))
def test_combined_render_passes_promtool(promtool: str, agents: list[dict[str, str]]) -> None:
    fleet = FleetState(clock=lambda: 0.0)
    for i, values in enumerate(agents):
        fleet.apply(f"agent-{i}", [report_with(values)])
    text = render_text(fleet)
    result = check_metrics(promtool, text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(shape(text).values()) == 4 * sum(BENIGN_SHAPE.values())
