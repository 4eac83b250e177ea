"""The texts of a binary .deb: control, copyright (with every embedded distribution), changelog, man page."""

from __future__ import annotations

import email.parser
import email.utils
import gzip
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fleetwatch_packaging.common import run

LICENSE_CLASSIFIER = "License :: "
COMMON_LICENSES = {"Apache-2.0": "/usr/share/common-licenses/Apache-2.0"}


@dataclass(frozen=True)
class Control:
    package: str
    version: str
    architecture: str
    maintainer: str
    depends: tuple[str, ...]
    installed_size_kib: int
    summary: str
    description: str  # paragraphs separated by blank lines
    homepage: str = ""

    def render(self) -> str:
        fields = [
            ("Package", self.package),
            ("Version", self.version),
            ("Architecture", self.architecture),
            ("Maintainer", self.maintainer),
            ("Installed-Size", str(self.installed_size_kib)),
            ("Depends", ", ".join(self.depends)),
            ("Section", "admin"),
            ("Priority", "optional"),
        ]
        if self.homepage:
            fields.append(("Homepage", self.homepage))
        lines = [f"{name}: {value}" for name, value in fields]
        lines.append(f"Description: {self.summary}")
        lines.extend(_description_lines(self.description))
        return "\n".join(lines) + "\n"


def _description_lines(text: str) -> list[str]:
    """Extended description: each line indented by one space, blank lines as ' .'."""
    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if out:
            out.append(" .")
        out.extend(f" {line.strip()}" for line in paragraph.strip().splitlines())
    return out


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    license: str


def embedded_distributions(site_packages: Path) -> list[Distribution]:
    """Every distribution installed in a venv, with the licence its metadata declares."""
    found = []
    for metadata_path in sorted(site_packages.glob("*.dist-info/METADATA")):
        meta = email.parser.Parser().parsestr(metadata_path.read_text(encoding="utf-8"))
        found.append(Distribution(meta["Name"], meta["Version"], _license_of(meta)))
    return sorted(found, key=lambda d: d.name.lower())


def _license_of(meta: email.message.Message) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return str(expression).strip()
    declared = str(meta.get("License") or "").strip()
    if declared and "\n" not in declared and len(declared) <= 80:
        return declared
    classifiers = [
        str(c).split(" :: ")[-1]
        for c in meta.get_all("Classifier") or []
        if str(c).startswith(LICENSE_CLASSIFIER)
    ]
    return ", ".join(classifiers) or "see the licence files in its .dist-info folder"


def copyright_text(
    package: str, project_license: str, venv_prefix: str, dists: list[Distribution], year: int
) -> str:
    license_path = COMMON_LICENSES.get(project_license)
    where = (
        f"On Debian systems the full text of the {project_license} licence is in {license_path}."
        if license_path
        else f"Licence: {project_license}."
    )
    lines = [
        f"{package}: fleetwatch and the Python distributions it runs on.",
        "",
        "fleetwatch",
        f"Copyright (C) {year} the fleetwatch authors",
        f"License: {project_license}",
        f"  {where}",
        "",
        f"Embedded in {venv_prefix}; each distribution's own licence and notice files are in its",
        f"{venv_prefix}/lib/python3.*/site-packages/<name>-<version>.dist-info folder.",
        "",
    ]
    width = max(len(f"{d.name} {d.version}") for d in dists) if dists else 0
    lines.extend(f"  {f'{d.name} {d.version}':<{width}}  {d.license}" for d in dists)
    return "\n".join(lines) + "\n"


def changelog_gz(package: str, version: str, maintainer: str, when: int, note: str) -> bytes:
    """A native package's changelog.gz: one entry, gzip without a name or time (reproducible)."""
    date = email.utils.formatdate(when, usegmt=False).replace("-0000", "+0000")
    text = f"{package} ({version}) unstable; urgency=medium\n\n  * {note}\n\n -- {maintainer}  {date}\n"
    return gzip_bytes(text.encode("utf-8"))


def gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as handle:
        handle.write(data)
    return buffer.getvalue()


SUBCOMMAND_LINE = re.compile(r"^ {4}([a-z][a-z-]*)(?: {2,}\S.*)?$")


def subcommands(help_text: str) -> list[str]:
    """The commands a top-level ``--help`` lists (argparse's indented choices under COMMAND)."""
    names = []
    in_choices = False
    for line in help_text.splitlines():
        if re.match(r"^ {2}\S", line):
            in_choices = line.strip().startswith(("COMMAND", "{"))
            continue
        if in_choices:
            match = SUBCOMMAND_LINE.match(line)
            if match:
                names.append(match.group(1))
    return names


def _roff(text: str) -> str:
    out = []
    for raw in text.rstrip().splitlines():
        line = raw.replace("\\", "\\e").replace("-", "\\-")
        out.append(f"\\&{line}" if line.startswith((".", "'")) else line)
    return "\n".join(out)


def man_page(
    command: list[str], name: str, summary: str, version: str, files: list[tuple[str, str]]
) -> bytes:
    """Section 8 page made from the command's own ``--help`` texts (gzip), so it never drifts from them."""
    env = {**os.environ, "COLUMNS": "80"}
    top = run([*command, "--help"], env=env)
    sections = [
        f'.TH {name.upper()} 8 "" "fleetwatch {version}" "System Administration"',
        ".SH NAME",
        f"{name} \\- {summary}",
        ".SH SYNOPSIS",
        ".nf",
        _roff(top.split("\n\n", 1)[0]),
        ".fi",
        ".SH DESCRIPTION",
        ".nf",
        _roff(top.split("\n\n", 1)[-1]),
        ".fi",
    ]
    for sub in subcommands(top):
        sections += [f".SS {name} {sub}", ".nf", _roff(run([*command, sub, "--help"], env=env)), ".fi"]
    sections.append(".SH FILES")
    for path, what in files:
        sections += [".TP", f".I {path}", what]
    sections += [".SH SEE ALSO", f"/usr/share/doc/{name}/install.md, /usr/share/doc/{name}/README.md"]
    return gzip_bytes(("\n".join(sections) + "\n").encode("utf-8"))
