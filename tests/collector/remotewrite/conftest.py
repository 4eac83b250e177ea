"""Fixtures of the remote write tests: Prometheus' WriteRequest classes, compiled from remote.proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

PROTO = Path(__file__).with_name("remote.proto")


@pytest.fixture(scope="session")
def prompb(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The generated remote_pb2 module: an independent decoder of what the collector encodes."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("prompb")
    assert protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}", str(PROTO)]) == 0
    spec = importlib.util.spec_from_file_location("remote_pb2", out / "remote_pb2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
