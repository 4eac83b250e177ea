"""What every installer needs: the project's metadata, its wheel, commands that must succeed, checksums."""

from __future__ import annotations

import email.parser
import hashlib
import re
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = REPO_ROOT / "deploy" / "package"
COMMAND_TIMEOUT = 900


class BuildError(Exception):
    """A build step failed; the message says which and why."""


@dataclass(frozen=True)
class Project:
    name: str
    version: str  # as in pyproject.toml (PEP 440)
    description: str
    license: str
    requires_python: str


def project(root: Path = REPO_ROOT) -> Project:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return Project(
        data["name"], data["version"], data["description"], data["license"], data["requires-python"]
    )


def debian_version(version: str) -> str:
    """A PEP 440 version as a Debian one: pre-releases sort before the release (0.2.0rc1 -> 0.2.0~rc1)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)*)(?:[.-]?(a|b|rc|dev)[.-]?(\d*))?(?:\+([A-Za-z0-9.]+))?", version)
    if match is None:
        raise BuildError(f"version {version!r}: not a version this build can turn into a Debian one")
    release, pre, number, local = match.groups()
    out = release + (f"~{pre}{number}" if pre else "")
    return out + (f"+{local}" if local else "")


def run(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``command``; its stdout, or BuildError with its output when it fails."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{command[0]}: {exc}") from exc
    if done.returncode != 0:
        shown = " ".join(command)
        raise BuildError(f"{shown}: exit code {done.returncode}\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done.stdout


def pip(*args: str) -> list[str]:
    """The build environment's pip (PyPI or the configured index is reached at build time only)."""
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def build_wheel(out: Path, root: Path = REPO_ROOT) -> Path:
    """The project's wheel (every package of the checkout; the extras choose the dependencies)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    run(pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(root)))
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"pip wheel wrote {len(wheels)} wheels in {out}, expected one")
    return wheels[0]


def wheel_metadata(wheel: Path) -> Message:
    """The METADATA of a wheel (name, version, Requires-Dist, licence fields)."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if len(names) != 1:
            raise BuildError(f"{wheel.name}: no single .dist-info/METADATA")
        text = archive.read(names[0]).decode("utf-8")
    return email.parser.Parser().parsestr(text)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sha256sums(folder: Path, name: str = "SHA256SUMS") -> Path:
    """``sha256sum -c`` format, paths relative to ``folder`` with forward slashes, sorted."""
    lines = [
        f"{sha256(path)}  {path.relative_to(folder).as_posix()}"
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != name
    ]
    target = folder / name
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def source_date_epoch(root: Path = REPO_ROOT) -> int:
    """The last commit's time (reproducible dates in changelogs and archives), else the newest file's."""
    try:
        return int(run(["git", "-C", str(root), "log", "-1", "--format=%ct"]).strip())
    except (BuildError, ValueError):
        return int((root / "pyproject.toml").stat().st_mtime)
