"""The Debian packages fleetwatch-agent and fleetwatch-collector, built with dpkg-deb from a staging tree."""
# Layout of fleetwatch-<name> (the units in deploy/systemd/ name these paths):
#   /opt/fleetwatch/<name>/                  self-contained venv (venvbuild.py), bin/fleetwatch-<name>
#   /usr/bin/fleetwatch-<name>               symlink to it
#   /etc/fleetwatch/<name>.toml              conffile: dpkg never overwrites it once edited
#   /lib/systemd/system/fleetwatch-<name>.service
#   /usr/share/doc/fleetwatch-<name>/        README, the technician's page, example configuration
#   /var/lib/fleetwatch-<name>/              made by postinst (0700, the service's user), deleted on purge

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fleetwatch_packaging import debmeta
from fleetwatch_packaging.common import (
    PACKAGE_DIR,
    REPO_ROOT,
    BuildError,
    debian_version,
    project,
    run,
    source_date_epoch,
)
from fleetwatch_packaging.venvbuild import build_venv, normalise_modes, versioned_interpreter

DEFAULT_MAINTAINER = "fleetwatch maintainers <fleetwatch@example.org>"
TOKEN_PATH = "/etc/fleetwatch/enroll.token"
CA_PATH = "/etc/fleetwatch/ca.pem"
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")


@dataclass(frozen=True)
class Component:
    name: str  # agent | collector: the command's suffix, the config's name
    extras: str  # of the fleetwatch distribution, comma-separated
    summary: str
    description: str
    readme: str  # repository paths
    example: str
    doc_examples: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (path, what) for the man page

    @property
    def package(self) -> str:
        return f"fleetwatch-{self.name}"

    @property
    def prefix(self) -> str:
        return f"/opt/fleetwatch/{self.name}"

    @property
    def config_path(self) -> str:
        return f"/etc/fleetwatch/{self.name}.toml"


COMPONENTS = {
    "agent": Component(
        "agent",
        # snmp: any workstation can be its site's router poller ([probes.snmp]) without a download.
        "agent,snmp",
        "fleetwatch workstation agent",
        """Collects resources, antivirus status (ClamAV) and connectivity of this
        machine and pushes them over gRPC to a fleetwatch collector; reports wait
        in an on-disk spool while the collector is unreachable.

        Runs as the hardened systemd service fleetwatch-agent under its own system
        user, and enrols by itself at its first start with the site token in
        /etc/fleetwatch/enroll.token. The package carries its own Python
        environment in /opt/fleetwatch/agent: it installs offline.""",
        "agent/README.md",
        "agent/agent.example.toml",
        ("deploy/systemd/lan-discovery.conf",),
        (
            ("/etc/fleetwatch/agent.toml", "configuration (a conffile: kept when edited)"),
            (TOKEN_PATH, "site enrolment token, mode 0640 root:fleetwatch-agent"),
            ("/var/lib/fleetwatch-agent", "spool, sequence numbers, credential.json"),
        ),
    ),
    "collector": Component(
        "collector",
        "collector",
        "fleetwatch collector of agent reports, as Prometheus metrics",
        """Receives the reports of fleetwatch agents over gRPC, keeps enrolments
        and agent state in SQLite and exposes the fleet as Prometheus metrics.

        Runs as the hardened systemd service fleetwatch-collector under its own
        system user. The package carries its own Python environment in
        /opt/fleetwatch/collector: it installs offline.""",
        "collector/README.md",
        "collector/collector.example.toml",
        ("deploy/systemd/snmp-traps.conf",),
        (
            ("/etc/fleetwatch/collector.toml", "configuration (a conffile: kept when edited)"),
            ("/var/lib/fleetwatch-collector", "the store: enrolment tokens, hashed credentials, agent state"),
        ),
    ),
}


@dataclass(frozen=True)
class DebOptions:
    python: Path = Path("/usr/bin/python3")
    maintainer: str = DEFAULT_MAINTAINER
    collector_addresses: tuple[str, ...] = ()  # baked into agent.toml; () keeps the example's
    ca_file: Path | None = None  # the collector's CA, shipped as /etc/fleetwatch/ca.pem
    compression: str = "xz"


def set_collector_options(text: str, values: dict[str, str]) -> str:
    """``text`` (agent.example.toml) with options of its [collector] table set to TOML ``values``."""
    lines = text.splitlines()
    section = ""
    missing = dict(values)
    for index, line in enumerate(lines):
        header = re.match(r"^\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        option = re.match(r"^([a-z_]+) = ", line)
        if section == "collector" and option and option.group(1) in missing:
            lines[index] = f"{option.group(1)} = {missing.pop(option.group(1))}"
    if missing:
        raise BuildError(f"agent.example.toml: no [collector] option {', '.join(sorted(missing))} to set")
    return "\n".join(lines) + "\n"


def agent_config(example: str, options: DebOptions) -> str:
    values = {"token_file": json.dumps(TOKEN_PATH)}
    if options.collector_addresses:
        values["addresses"] = json.dumps(list(options.collector_addresses))
    if options.ca_file is not None:
        values["ca_file"] = json.dumps(CA_PATH)
    return set_collector_options(example, values)


def architecture() -> str:
    return run(["dpkg", "--print-architecture"]).strip()


def shlib_depends(root: Path) -> list[str]:
    """What the shipped ELF objects link to, as dependencies (dpkg-shlibdeps)."""
    objects = [p for p in root.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    if not objects:
        return []
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "debian").mkdir()
        (Path(scratch) / "debian" / "control").write_text(
            "Source: fleetwatch\n\nPackage: fleetwatch\nArchitecture: any\n"
        )
        out = run(["dpkg-shlibdeps", "-O", "--warnings=0", *map(str, objects)], cwd=Path(scratch))
    match = re.search(r"^shlibs:Depends=(.*)$", out, re.MULTILINE)
    return [d.strip() for d in match.group(1).split(",")] if match else []


def installed_size_kib(root: Path) -> int:
    """As dpkg-gencontrol counts: each file rounded up to a KiB, one per folder or link."""
    total = 0
    for path in root.rglob("*"):
        if path.parts[len(root.parts)] == "DEBIAN":
            continue
        total += -(-path.lstat().st_size // 1024) if path.is_file() and not path.is_symlink() else 1
    return total


def _doc_files(component: Component, doc_dir: Path) -> None:
    doc_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / component.readme, doc_dir / "README.md")
    shutil.copyfile(REPO_ROOT / component.example, doc_dir / Path(component.example).name)
    for page in ("install.md", "install.vi.md"):
        shutil.copyfile(REPO_ROOT / "docs" / page, doc_dir / page)
    for example in component.doc_examples:
        (doc_dir / "examples").mkdir(exist_ok=True)
        shutil.copyfile(REPO_ROOT / example, doc_dir / "examples" / Path(example).name)


def _write_md5sums(root: Path) -> None:
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == "DEBIAN" or path.is_symlink() or not path.is_file():
            continue
        lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative.as_posix()}")
    (root / "DEBIAN" / "md5sums").write_text("\n".join(lines) + "\n")


def build_deb(component: Component, wheel: Path, out: Path, work: Path, options: DebOptions) -> Path:
    """``fleetwatch-<name>_<version>_<arch>.deb`` in ``out``; ``work`` holds the staging tree."""
    meta = project()
    version = debian_version(meta.version)
    python = versioned_interpreter(options.python)
    root = work / component.package
    if root.exists():
        shutil.rmtree(root)
    venv = build_venv(root, component.prefix, python, wheel, component.extras, component.package)

    unit = f"fleetwatch-{component.name}.service"
    (root / "lib/systemd/system").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "deploy" / "systemd" / unit, root / "lib/systemd/system" / unit)

    config = root / component.config_path.lstrip("/")
    config.parent.mkdir(parents=True)
    example = (REPO_ROOT / component.example).read_text(encoding="utf-8")
    config.write_text(agent_config(example, options) if component.name == "agent" else example)
    conffiles = [component.config_path]
    if component.name == "agent" and options.ca_file is not None:
        shutil.copyfile(options.ca_file, root / CA_PATH.lstrip("/"))
        conffiles.append(CA_PATH)

    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin" / component.package).symlink_to(f"{component.prefix}/bin/{component.package}")

    doc_dir = root / "usr/share/doc" / component.package
    _doc_files(component, doc_dir)
    dists = debmeta.embedded_distributions(next(venv.glob("lib/python3*/site-packages")))
    when = _source_date()
    year = time.gmtime(when).tm_year
    (doc_dir / "copyright").write_text(
        debmeta.copyright_text(component.package, meta.license, component.prefix, dists, year)
    )
    note = f"Built from fleetwatch {meta.version}, {len(dists)} Python distributions embedded."
    (doc_dir / "changelog.gz").write_bytes(
        debmeta.changelog_gz(component.package, version, options.maintainer, when, note)
    )
    man_dir = root / "usr/share/man/man8"
    man_dir.mkdir(parents=True)
    command = [str(venv / "bin" / "python"), "-m", f"fleetwatch_{component.name}"]
    (man_dir / f"{component.package}.8.gz").write_bytes(
        debmeta.man_page(command, component.package, component.summary, meta.version, list(component.files))
    )
    overrides = root / "usr/share/lintian/overrides"
    overrides.mkdir(parents=True)
    shutil.copyfile(
        PACKAGE_DIR / "debian" / component.name / "lintian-overrides", overrides / component.package
    )

    control_dir = root / "DEBIAN"
    control_dir.mkdir()
    for script in MAINTAINER_SCRIPTS:
        shutil.copyfile(PACKAGE_DIR / "debian" / component.name / script, control_dir / script)
        (control_dir / script).chmod(0o755)
    normalise_modes(root)
    (control_dir / "conffiles").write_text("".join(f"{path}\n" for path in conffiles))
    major_minor = python.name.removeprefix("python")
    control = debmeta.Control(
        package=component.package,
        version=version,
        architecture=architecture(),
        maintainer=options.maintainer,
        depends=(f"python{major_minor}", "adduser", *shlib_depends(venv)),
        installed_size_kib=installed_size_kib(root),
        summary=component.summary,
        description=component.description,
    )
    (control_dir / "control").write_text(control.render())
    _write_md5sums(root)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{component.package}_{version}_{control.architecture}.deb"
    run(["dpkg-deb", "--root-owner-group", f"-Z{options.compression}", "--build", str(root), str(target)])
    return target


def _source_date() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or source_date_epoch())
