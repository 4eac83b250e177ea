"""SNMP credentials: communities and v3 users, their secrets read from files, never shown in a repr."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSIONS = ("1", "2c", "3")
AUTH_PROTOCOLS = ("", "md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("", "des", "aes", "aes192", "aes256")
# RFC 3414 (section 11.2): a USM pass phrase has at least 8 characters; net-snmp refuses shorter ones.
MIN_KEY_CHARACTERS = 8
# snmpEngineID: 5 to 32 octets (RFC 3411), written in hex.
ENGINE_ID_RE = re.compile(r"^(?:[0-9a-fA-F]{2}){5,32}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Keys of one TOML credential table: secrets only through *_file keys.
TABLE_KEYS = (
    "version",
    "community_file",
    "user",
    "auth_protocol",
    "auth_key_file",
    "priv_protocol",
    "priv_key_file",
    "engine_id",
)


@dataclass(frozen=True)
class Credential:
    """How to talk to a device: a v1/v2c community or a v3 user (security level from the protocols)."""

    name: str
    version: str
    community: str = field(default="", repr=False)
    user: str = ""
    auth_protocol: str = ""
    auth_key: str = field(default="", repr=False)
    priv_protocol: str = ""
    priv_key: str = field(default="", repr=False)
    engine_id: str = ""  # hex; the sender's snmpEngineID, needed to receive its v3 TRAPs

    def __post_init__(self) -> None:
        def fail(field_name: str, problem: str) -> ValueError:
            return ValueError(f"credential {self.name!r}: {field_name}: {problem}")

        if not NAME_RE.match(self.name):
            raise fail(
                "name", "letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit"
            )
        if self.version not in VERSIONS:
            raise fail("version", f"{self.version!r} is not one of {', '.join(map(repr, VERSIONS))}")
        if self.version in ("1", "2c"):
            if not self.community:
                raise fail("community", f"version {self.version} needs a community (community_file)")
            for v3_field in ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "engine_id"):
                if getattr(self, v3_field):
                    raise fail(v3_field, f"only for version 3 (version {self.version} uses a community)")
            return
        if self.community:
            raise fail("community", "version 3 uses a user, not a community")
        if not self.user:
            raise fail("user", "version 3 needs a user name")
        if self.auth_protocol not in AUTH_PROTOCOLS:
            raise fail(
                "auth_protocol", f"{self.auth_protocol!r} is not one of {', '.join(AUTH_PROTOCOLS[1:])}"
            )
        if self.priv_protocol not in PRIV_PROTOCOLS:
            raise fail(
                "priv_protocol", f"{self.priv_protocol!r} is not one of {', '.join(PRIV_PROTOCOLS[1:])}"
            )
        if self.priv_protocol and not self.auth_protocol:
            raise fail("priv_protocol", "privacy needs authentication: set auth_protocol too")
        for protocol_field, key_field, protocol, key in (
            ("auth_protocol", "auth_key", self.auth_protocol, self.auth_key),
            ("priv_protocol", "priv_key", self.priv_protocol, self.priv_key),
        ):
            if protocol and len(key) < MIN_KEY_CHARACTERS:
                raise fail(key_field, f"shorter than {MIN_KEY_CHARACTERS} characters")
            if key and not protocol:
                raise fail(protocol_field, f"a {key_field} is set but no {protocol_field}")
        if self.engine_id and not ENGINE_ID_RE.match(self.engine_id):
            raise fail("engine_id", "hex digits of 5 to 32 octets, e.g. 80001f8880...")

    @property
    def security_level(self) -> str:
        """``noAuthNoPriv``, ``authNoPriv`` or ``authPriv`` (v3); ``community`` for v1/v2c."""
        if self.version != "3":
            return "community"
        if not self.auth_protocol:
            return "noAuthNoPriv"
        return "authPriv" if self.priv_protocol else "authNoPriv"

    def secrets(self) -> tuple[str, ...]:
        """The secret values (non-empty ones), e.g. to keep them out of error texts."""
        return tuple(secret for secret in (self.community, self.auth_key, self.priv_key) if secret)


def load_credentials(table: Mapping[str, Any], base_dir: Path) -> dict[str, Credential]:
    """Credentials by name from a TOML table ``{NAME: {version = ..., community_file = ...}}``.

    Secret files are read relative to ``base_dir`` (absolute paths as they are), one trailing newline
    stripped. Every problem raises ValueError naming the credential and the field.
    """
    credentials = {}
    for name, entry in table.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"credential {name!r}: expected a table of options, got {type(entry).__name__}")
        credentials[name] = _credential(str(name), entry, base_dir)
    return credentials


def _credential(name: str, entry: Mapping[str, Any], base_dir: Path) -> Credential:
    def fail(field_name: str, problem: str) -> ValueError:
        return ValueError(f"credential {name!r}: {field_name}: {problem}")

    for key in entry:
        if key in ("community", "auth_key", "priv_key"):
            raise fail(key, f"secrets are read from files only: write it in a file and set {key}_file")
        if key not in TABLE_KEYS:
            raise fail(key, f"unknown option (known: {', '.join(TABLE_KEYS)})")
    for key, value in entry.items():
        if key != "version" and not isinstance(value, str):
            raise fail(key, f"expected a string, got {type(value).__name__}")
    version = entry.get("version")
    if version is None:
        raise fail("version", 'missing: "1", "2c" or "3"')
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str):
        raise fail("version", f'expected "1", "2c" or "3", got {version!r}')

    def secret(key: str) -> str:
        file_key = f"{key}_file"
        if file_key not in entry:
            return ""
        return _read_secret(name, file_key, base_dir / Path(entry[file_key]).expanduser())

    return Credential(
        name=name,
        version=version,
        community=secret("community"),
        user=entry.get("user", ""),
        auth_protocol=entry.get("auth_protocol", "").lower(),
        auth_key=secret("auth_key"),
        priv_protocol=entry.get("priv_protocol", "").lower(),
        priv_key=secret("priv_key"),
        engine_id=entry.get("engine_id", ""),
    )


def _read_secret(name: str, file_key: str, path: Path) -> str:
    """The file's text without its trailing newline; ValueError names the credential, field and file."""
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise ValueError(f"credential {name!r}: {file_key}: {path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"credential {name!r}: {file_key}: {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"credential {name!r}: {file_key}: {path}: not UTF-8 text") from None
    text = text.removeprefix("\ufeff").removesuffix("\n").removesuffix("\r")
    if not text:
        raise ValueError(f"credential {name!r}: {file_key}: {path}: the file is empty")
    if "\n" in text or "\r" in text:
        raise ValueError(f"credential {name!r}: {file_key}: {path}: more than one line")
    if os.name == "posix" and mode & 0o077:
        log.warning(
            "credential %r: %s: %s is readable by others (mode %o); chmod 600 it", name, file_key, path, mode
        )
    return text
