"""Every dependency of the agent as a win_amd64 (or pure Python) wheel, per supported Python, from Linux."""
# pip downloads for another platform with --platform/--python-version and --only-binary=:all:, so no
# Windows machine ever needs a compiler. But pip evaluates environment markers against the machine it
# runs on: `pywin32; sys_platform == "win32"` would be skipped. So the requirements are read from the
# project wheel and evaluated here for Windows, and after pip's download the set is closed the same
# way: every wheel's own requirements, evaluated for Windows, must be present (missing ones are
# downloaded), and wheels nothing on Windows needs are dropped. Each wheel's tags are checked against
# what CPython X.Y on win_amd64 accepts.

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from fleetwatch_packaging.common import BuildError, pip, run, wheel_metadata

PLATFORM = "win_amd64"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
# The Windows service is pywin32's: a bundle without it cannot register the agent.
REQUIRED_ON_WINDOWS = ("pywin32",)
MAX_ROUNDS = 8


def windows_environment(python: str) -> dict[str, str]:
    """Marker variables of 64-bit CPython ``python`` (X.Y) on Windows 10/11."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "nt",
        "platform_machine": "AMD64",
        "platform_python_implementation": "CPython",
        "platform_release": "10",
        "platform_system": "Windows",
        "platform_version": "10.0.19045",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "win32",
    }


def needed(requires: Iterable[str], extras: Iterable[str], env: dict[str, str]) -> list[Requirement]:
    """The Requires-Dist entries that apply on Windows with ``extras`` requested."""
    wanted = ["", *extras]
    out = []
    for text in requires:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({**env, "extra": extra}) for extra in wanted):
            out.append(requirement)
    return out


def project_requirements(
    project_wheel: Path, extras: Iterable[str], env: dict[str, str]
) -> list[Requirement]:
    """The project's own requirements for ``extras``, following its self-references (fleetwatch[snmp])."""
    meta = wheel_metadata(project_wheel)
    name = canonicalize_name(str(meta["Name"]))
    requires = meta.get_all("Requires-Dist") or []
    seen: set[str] = set()
    todo = list(extras)
    out: list[Requirement] = []
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in needed(requires, [extra], env):
            if canonicalize_name(requirement.name) == name:
                todo.extend(requirement.extras)
            elif str(requirement) not in {str(r) for r in out}:
                out.append(requirement)
    return out


def without_marker(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def accepted_tags(python: str) -> set[Tag]:
    version = tuple(int(part) for part in python.split("."))
    return {
        *cpython_tags(version, platforms=[PLATFORM]),
        *compatible_tags(version, interpreter=f"cp{version[0]}{version[1]}", platforms=[PLATFORM]),
    }


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]


def wheels_in(folder: Path) -> dict[NormalizedName, Wheel]:
    found: dict[NormalizedName, Wheel] = {}
    for path in sorted(folder.glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        if name in found:
            raise BuildError(f"{folder}: two wheels of {name}: {found[name].path.name}, {path.name}")
        found[name] = Wheel(path, name, version, tags)
    return found


def closure(
    folder: Path, top: list[Requirement], env: dict[str, str]
) -> tuple[set[NormalizedName], list[Requirement]]:
    """Names of the wheels Windows needs from ``folder``, and the requirements no wheel there meets."""
    present = wheels_in(folder)
    reached: set[NormalizedName] = set()
    missing: list[Requirement] = []
    queue = list(top)
    requested: dict[NormalizedName, set[str]] = {}
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        wheel = present.get(name)
        if wheel is None or not requirement.specifier.contains(wheel.version, prereleases=True):
            missing.append(requirement)
            continue
        extras = requested.setdefault(name, set())
        if name in reached and set(requirement.extras) <= extras:
            continue
        reached.add(name)
        extras.update(requirement.extras)
        queue.extend(needed(wheel_metadata(wheel.path).get_all("Requires-Dist") or [], extras, env))
    return reached, missing


def download(requirements: list[str], python: str, folder: Path) -> None:
    run(
        pip(
            "download", "--quiet", "--only-binary=:all:", "--platform", PLATFORM, "--python-version", python,
            "--implementation", "cp", "--dest", str(folder), *requirements,
        )
    )  # fmt: skip


def resolve(project_wheel: Path, extras: list[str], python: str, folder: Path) -> list[Path]:
    """Download into ``folder`` every wheel CPython ``python`` on win_amd64 needs; returns them sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    env = windows_environment(python)
    top = project_requirements(project_wheel, extras, env)
    download([without_marker(r) for r in top], python, folder)
    for _round in range(MAX_ROUNDS):
        reached, missing = closure(folder, top, env)
        if not missing:
            break
        for requirement in missing:  # a newer wheel of the same name replaces an unfitting one
            stale = wheels_in(folder).get(canonicalize_name(requirement.name))
            if stale is not None:
                stale.path.unlink()
        download([without_marker(r) for r in missing], python, folder)
    else:
        raise BuildError(f"Python {python}: unmet on Windows after {MAX_ROUNDS} rounds: {missing}")
    for name, wheel in wheels_in(folder).items():
        if name not in reached:  # pulled in by a marker true on Linux only
            wheel.path.unlink()
    check_wheels(folder, python)
    return sorted(folder.glob("*.whl"))


def check_wheels(folder: Path, python: str) -> None:
    """Every wheel installs on CPython ``python`` win_amd64, and what the service needs is there."""
    accepted = accepted_tags(python)
    present = wheels_in(folder)
    unfit = [w.path.name for w in present.values() if not (w.tags & accepted)]
    if unfit:
        raise BuildError(f"Python {python}: wheels that do not install on {PLATFORM}: {', '.join(unfit)}")
    absent = [name for name in REQUIRED_ON_WINDOWS if canonicalize_name(name) not in present]
    if absent:
        raise BuildError(
            f"Python {python}: {', '.join(absent)} missing: the agent extra must require it on Windows "
            "(sys_platform == 'win32') for the Windows service"
        )
    for wheel in present.values():
        with zipfile.ZipFile(wheel.path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise BuildError(f"{wheel.path.name}: damaged member {bad}")
