"""A self-contained virtual environment built in a staging tree for the path it will be installed at."""
# The environment is made at build time with the target's interpreter (Debian's /usr/bin/python3.X) and
# shipped whole in the .deb, so installing needs no network, no compiler and no pip: dpkg knows every
# file and `dpkg -r` removes them all. It is built under a staging folder, then made to work at its
# final prefix: script shebangs and pyvenv.cfg are rewritten, and the byte code is compiled with the
# final paths (unchecked-hash .pyc: the service's read-only /opt cannot take a __pycache__ later).
# Nothing in the result may still name the staging folder; that is checked.

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from fleetwatch_packaging.common import BuildError, pip, run

ACTIVATE_SCRIPTS = ("activate", "activate.csh", "activate.fish", "Activate.ps1")
ELF_MAGIC = b"\x7fELF"


def interpreter_version(python: Path) -> tuple[int, int]:
    out = run([str(python), "-c", "import sys, json; print(json.dumps(sys.version_info[:2]))"])
    major, minor = json.loads(out)
    return int(major), int(minor)


def versioned_interpreter(python: Path) -> Path:
    """``/usr/bin/python3`` -> ``/usr/bin/python3.11``: the venv must not follow a later default Python."""
    major, minor = interpreter_version(python)
    candidate = python.parent / f"python{major}.{minor}"
    return candidate if candidate.exists() else python


def build_venv(staging_root: Path, prefix: str, python: Path, wheel: Path, extras: str, command: str) -> Path:
    """``fleetwatch[extras]`` in a venv for ``prefix`` (e.g. /opt/fleetwatch/agent) under ``staging_root``.

    Only ``command`` is kept among the console scripts (the wheel declares the agent's and the
    collector's; each package runs one of them)."""
    target = staging_root / prefix.lstrip("/")
    if target.exists():
        shutil.rmtree(target)
    run([str(python), "-m", "venv", "--without-pip", str(target)])
    env_python = target / "bin" / "python"
    run(
        pip(
            "--python", str(env_python), "install", "--quiet", "--no-compile", "--no-warn-script-location",
            "--only-binary=:all:", f"fleetwatch[{extras}] @ {wheel.as_uri()}",
        )
    )  # fmt: skip
    _drop_build_traces(target, command)
    _relocate(target, prefix)
    _strip_shared_objects(target)
    _compile(env_python, target, staging_root)
    leftovers = list(_files_naming(target, str(staging_root)))
    if leftovers:
        shown = "\n".join(str(p) for p in leftovers[:20])
        raise BuildError(f"these files still name the staging folder {staging_root}:\n{shown}")
    return target


def _site_packages(target: Path) -> Path:
    found = sorted(target.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise BuildError(f"{target}: no single lib/python3*/site-packages")
    return found[0]


def _drop_build_traces(target: Path, command: str) -> None:
    """Activation scripts, the other side's command, stray files, the wheel's build path (direct_url.json)."""
    bin_dir = target / "bin"
    for entry in bin_dir.iterdir():
        if entry.name.startswith("python") or entry.name == command:
            continue
        entry.unlink()
    for junk in target.rglob(".DS_Store"):  # left in some wheels by their makers' Macs
        junk.unlink()
    for empty in (target / "include").glob("python3*"):  # headers of packages built here: none
        if not any(empty.iterdir()):
            empty.rmdir()
    for direct_url in _site_packages(target).glob("*.dist-info/direct_url.json"):
        record = direct_url.parent / "RECORD"
        lines = record.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if not line.startswith(f"{direct_url.parent.name}/direct_url.json,")]
        record.write_text("\n".join(kept) + "\n", encoding="utf-8")
        direct_url.unlink()
    if not (bin_dir / command).is_file():
        raise BuildError(f"{bin_dir / command}: the console script was not installed")


def _relocate(target: Path, prefix: str) -> None:
    """Shebangs and pyvenv.cfg name ``prefix`` instead of the staging folder."""
    staged = str(target)
    for script in (target / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(b"#!"):
            script.write_bytes(data.replace(staged.encode(), prefix.encode()))
    cfg = target / "pyvenv.cfg"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(staged, prefix), encoding="utf-8")


def _strip_shared_objects(target: Path) -> None:
    """Extension modules without debug symbols (smaller; wheels built for manylinux often keep them)."""
    objects = [p for p in target.rglob("*.so*") if p.is_file() and not p.is_symlink() and _is_elf(p)]
    if objects and shutil.which("strip"):
        run(["strip", "--strip-unneeded", "--remove-section=.comment", "--remove-section=.note",
             *map(str, objects)])  # fmt: skip


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == ELF_MAGIC


def _compile(env_python: Path, target: Path, staging_root: Path) -> None:
    """Byte code for every module, naming the installed paths (tracebacks show /opt/..., not the staging)."""
    run(
        [
            str(env_python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
            "-s", str(staging_root), "-p", "/", str(target / "lib"),
        ]
    )  # fmt: skip


def _files_naming(target: Path, text: str) -> Iterable[Path]:
    needle = text.encode()
    for path in target.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            yield path


def normalise_modes(root: Path) -> None:
    """0755 folders and the commands of bin/ (and DEBIAN/), 0644 every other file, whatever the build's
    umask or the wheels' modes were (modules and shared objects are not run directly)."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o755)
        runnable = Path(folder).name in ("bin", "DEBIAN")
        for name in files:
            path = Path(folder, name)
            if path.is_symlink():
                continue
            path.chmod(0o755 if runnable and path.stat().st_mode & 0o111 else 0o644)
