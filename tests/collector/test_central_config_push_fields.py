"""The central configuration fields of a PushRequest are checked like every label and text."""

from __future__ import annotations

import pytest

from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def push(**fields: str) -> pb.PushRequest:
    return pb.PushRequest(**fields)  # type: ignore[arg-type]


def test_versions_and_a_reason_within_the_limits_pass() -> None:
    validate_push(
        push(
            config_version="0123456789abcdef",
            config_refused_version="fedcba9876543210",
            config_refused_reason="option probes.connectivity.targets[0]: a dns target needs dns_name",
        ),
        0,
        Limits(),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("config_version", 'v1"} 1\nfake_metric{'),
        ("config_refused_version", "x" * 65),
        ("config_refused_version", "ver sion"),
        ("config_refused_reason", "line\nbreak"),
        ("config_refused_reason", "r" * 257),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(Rejection) as refused:
        validate_push(push(**{field: value}), 0, Limits())
    assert refused.value.reason == "invalid_label"
    assert field in str(refused.value)
