"""Generate the committed Python code for the wire contract with pinned tools."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

PINNED_GRPCIO_TOOLS = "1.85.1"
PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = ("fleetwatch_proto/v1/fleetwatch.proto",)


def generate(out_dir: Path) -> None:
    """Run protoc on every contract file, writing _pb2.py, _pb2.pyi and _pb2_grpc.py."""
    from grpc_tools import protoc

    found = version("grpcio-tools")
    if found != PINNED_GRPCIO_TOOLS:
        raise SystemExit(
            f"grpcio-tools {PINNED_GRPCIO_TOOLS} is pinned for code generation, found {found}; "
            f"install it with: pip install grpcio-tools=={PINNED_GRPCIO_TOOLS}"
        )
    for proto in PROTO_FILES:
        rc = protoc.main(
            [
                "protoc",
                f"-I{PROTO_ROOT}",
                f"--python_out={out_dir}",
                f"--pyi_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                str(PROTO_ROOT / proto),
            ]
        )
        if rc != 0:
            raise SystemExit(f"protoc failed on {proto} (exit {rc})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=PROTO_ROOT, help="output root (default: the proto/ folder)"
    )
    args = parser.parse_args()
    generate(args.out)
    print(f"generated code under {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
