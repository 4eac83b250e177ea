"""The committed generated code is exactly what the pinned generator makes from the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

GENERATED = ("fleetwatch_pb2.py", "fleetwatch_pb2.pyi", "fleetwatch_pb2_grpc.py")


def test_regenerated_code_matches_committed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "fleetwatch_proto" / "v1" / name).read_bytes()
        committed = (REPO_ROOT / "proto" / "fleetwatch_proto" / "v1" / name).read_bytes()
        assert fresh == committed, f"{name} is stale: run `make proto` and commit the result"


def test_contract_has_the_messages_later_features_fill_in() -> None:
    from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["Collector"]
    assert {m.name for m in service.methods} == {"Enroll", "Push"}
    report = pb.Report.DESCRIPTOR.fields_by_name
    for name in ("seq", "collected_unix_ms", "host", "resources", "antivirus", "connectivity"):
        assert name in report, name
    assert report["network_devices"].message_type.name == "NetworkDevice"
    assert report["events"].message_type.name == "Event"
    assert "acked_seq" in pb.PushResponse.DESCRIPTOR.fields_by_name
    assert "config" in pb.PushResponse.DESCRIPTOR.fields_by_name
