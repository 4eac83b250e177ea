"""Build the fleetwatch installers from a checkout: Debian packages and the Windows offline bundle.

    .venv/bin/python deploy/package/build.py all                      # both .debs and the bundle in dist/
    .venv/bin/python deploy/package/build.py deb --component agent    # fleetwatch-agent_<v>_<arch>.deb
    .venv/bin/python deploy/package/build.py windows --python-version 3.12
    .venv/bin/python deploy/package/build.py deb --collector-address collector.tinh.vn:50051 --ca-file ca.pem

Wheels come from the package index at build time (pip's configuration applies); what is built installs
offline. Needs dpkg-deb and dpkg-shlibdeps (Debian: dpkg-dev) for the .debs; the .debs use the Python
given by --python (default /usr/bin/python3, which must be the target distribution's). Exit code 1 when
a step fails, with the step's output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fleetwatch_packaging.common import REPO_ROOT, BuildError, build_wheel  # noqa: E402
from fleetwatch_packaging.deb import COMPONENTS, DEFAULT_MAINTAINER, DebOptions, build_deb  # noqa: E402
from fleetwatch_packaging.winbundle import build_bundle  # noqa: E402
from fleetwatch_packaging.winwheels import SUPPORTED_PYTHONS  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("target", choices=("all", "deb", "windows"), help="what to build")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "dist", help="where the results go")
    parser.add_argument("--work", type=Path, help="staging folder to keep (default: a temporary one)")
    deb = parser.add_argument_group(".deb")
    deb.add_argument("--component", action="append", choices=sorted(COMPONENTS), help="default: all")
    deb.add_argument("--python", type=Path, default=Path("/usr/bin/python3"), help="the target's Python")
    deb.add_argument("--maintainer", default=DEFAULT_MAINTAINER, help="Maintainer field: 'Name <email>'")
    deb.add_argument(
        "--collector-address", action="append", default=[], metavar="HOST:PORT",
        help="collector.addresses of the agent's /etc/fleetwatch/agent.toml (repeat for a standby)",
    )  # fmt: skip
    deb.add_argument("--ca-file", type=Path, help="the collector's CA, shipped as /etc/fleetwatch/ca.pem")
    deb.add_argument("--compression", choices=("xz", "gzip", "zstd", "none"), default="xz")
    win = parser.add_argument_group("Windows bundle")
    win.add_argument(
        "--python-version", action="append", choices=SUPPORTED_PYTHONS,
        help=f"Windows Pythons to carry wheels for (default: {', '.join(SUPPORTED_PYTHONS)})",
    )  # fmt: skip
    return parser


def build(args: argparse.Namespace, work: Path) -> list[Path]:
    wheel = build_wheel(work / "wheel")
    built = []
    if args.target in ("all", "deb"):
        options = DebOptions(
            python=args.python,
            maintainer=args.maintainer,
            collector_addresses=tuple(args.collector_address),
            ca_file=args.ca_file,
            compression=args.compression,
        )
        for name in args.component or sorted(COMPONENTS):
            built.append(build_deb(COMPONENTS[name], wheel, args.output, work / "deb", options))
    if args.target in ("all", "windows"):
        pythons = tuple(args.python_version or SUPPORTED_PYTHONS)
        built.extend(build_bundle(wheel, args.output, work / "windows", pythons))
    return built


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.ca_file is not None and not args.ca_file.is_file():
        print(f"build.py: --ca-file {args.ca_file}: no such file", file=sys.stderr)
        return 2
    try:
        if args.work is not None:
            built = build(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="fleetwatch-package-") as scratch:
                built = build(args, Path(scratch))
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
