"""Credentials from TOML tables: secrets read from files, clear errors, never shown in a repr."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from fleetwatch_snmp.credentials import Credential, load_credentials

COMMUNITY = "s3cret-community"
AUTH_KEY = "auth-key-secret"
PRIV_KEY = "priv-key-secret"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    for name, value in (("community", COMMUNITY + "\n"), ("auth", AUTH_KEY), ("priv", PRIV_KEY + "\r\n")):
        path = tmp_path / "keys" / name
        path.write_text(value)
        path.chmod(0o600)
    return tmp_path


def test_v2c_and_v3_credentials_from_toml(secrets: Path) -> None:
    table = tomllib.loads(
        """
        [lab]
        version = "2c"
        community_file = "keys/community"

        [routers]
        version = "3"
        user = "monitor"
        auth_protocol = "SHA"
        auth_key_file = "keys/auth"
        priv_protocol = "aes"
        priv_key_file = "keys/priv"
        engine_id = "80001f8880aabbccdd"
        """
    )
    credentials = load_credentials(table, secrets)
    assert credentials["lab"] == Credential("lab", "2c", community=COMMUNITY)
    v3 = credentials["routers"]
    assert (v3.user, v3.auth_protocol, v3.auth_key, v3.priv_protocol, v3.priv_key) == (
        "monitor", "sha", AUTH_KEY, "aes", PRIV_KEY,
    )  # fmt: skip
    assert v3.security_level == "authPriv"
    assert v3.engine_id == "80001f8880aabbccdd"


def test_absolute_paths_are_read_as_they_are(secrets: Path, tmp_path: Path) -> None:
    table = {"a": {"version": 1, "community_file": str(secrets / "keys" / "community")}}
    assert load_credentials(table, tmp_path / "elsewhere")["a"].version == "1"


def test_no_repr_or_str_shows_a_secret(secrets: Path) -> None:
    v3 = Credential(
        "r", "3", user="u", auth_protocol="sha", auth_key=AUTH_KEY, priv_protocol="aes", priv_key=PRIV_KEY
    )
    v2 = Credential("c", "2c", community=COMMUNITY)
    shown = repr(v3) + str(v3) + repr(v2) + f"{v2}" + repr({"x": [v2, v3]})
    for secret in (COMMUNITY, AUTH_KEY, PRIV_KEY):
        assert secret not in shown
    assert "user='u'" in shown
    assert v3.secrets() == (AUTH_KEY, PRIV_KEY)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"version": "2c", "community_file": "keys/missing"},
            "credential 'bad': community_file: .*no such file",
        ),
        (
            {"version": "2c", "community": "inline"},
            "credential 'bad': community: secrets are read from files",
        ),
        ({"version": "2c"}, "credential 'bad': community: version 2c needs a community"),
        ({"community_file": "keys/community"}, "credential 'bad': version: missing"),
        (
            {"version": "2", "community_file": "keys/community"},
            "credential 'bad': version: '2' is not one of",
        ),
        ({"version": "2c", "community_file": "keys/community", "colour": "red"}, "colour: unknown option"),
        (
            {"version": "3", "user": "u", "auth_protocol": "sha1", "auth_key_file": "keys/auth"},
            "auth_protocol: 'sha1'",
        ),
        (
            {"version": "3", "user": "u", "auth_protocol": "sha", "auth_key_file": "keys/short"},
            "auth_key: shorter than 8",
        ),
        (
            {
                "version": "3",
                "user": "u",
                "auth_protocol": "sha",
                "auth_key_file": "keys/auth",
                "priv_protocol": "rot13",
                "priv_key_file": "keys/priv",
            },
            "priv_protocol: 'rot13' is not one of",
        ),
        (
            {"version": "3", "user": "u", "priv_protocol": "aes", "priv_key_file": "keys/priv"},
            "priv_protocol: privacy needs",
        ),
        ({"version": "3", "user": "u", "auth_protocol": "sha"}, "auth_key: shorter than 8"),
        (
            {"version": "3", "auth_protocol": "sha", "auth_key_file": "keys/auth"},
            "user: version 3 needs a user",
        ),
        ({"version": "3", "user": "u", "engine_id": "xyz"}, "engine_id: hex digits"),
        ({"version": "2c", "community_file": "keys/community", "user": "u"}, "user: only for version 3"),
        ({"version": "2c", "community_file": "keys/empty"}, "community_file: .*the file is empty"),
        ({"version": "2c", "community_file": "keys/two-lines"}, "community_file: .*more than one line"),
        ({"version": "2c", "community_file": 5}, "community_file: expected a string"),
    ],
)
def test_errors_name_the_credential_and_the_field(
    secrets: Path, entry: dict[str, object], message: str
) -> None:
    (secrets / "keys" / "short").write_text("1234567")
    (secrets / "keys" / "empty").write_text("\n")
    (secrets / "keys" / "two-lines").write_text("a\nb\n")
    with pytest.raises(ValueError, match=message) as raised:
        load_credentials({"bad": entry}, secrets)
    for secret in (COMMUNITY, AUTH_KEY, PRIV_KEY):
        assert secret not in str(raised.value)


def test_a_secret_file_others_can_read_is_warned_about(
    secrets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (secrets / "keys" / "community").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="fleetwatch_snmp.credentials"):
        load_credentials({"lab": {"version": "2c", "community_file": "keys/community"}}, secrets)
    assert "readable by others" in caplog.text
    assert COMMUNITY not in caplog.text


def test_a_table_that_is_not_a_table_is_an_error(secrets: Path) -> None:
    with pytest.raises(ValueError, match="credential 'x': expected a table"):
        load_credentials({"x": "2c"}, secrets)


@pytest.mark.parametrize(
    ("kwargs", "level"),
    [
        ({"user": "u"}, "noAuthNoPriv"),
        ({"user": "u", "auth_protocol": "md5", "auth_key": "12345678"}, "authNoPriv"),
        ({"user": "u", "auth_protocol": "sha512", "auth_key": "12345678", "priv_protocol": "aes256",
          "priv_key": "abcdefgh"}, "authPriv"),
    ],
)  # fmt: skip
def test_the_security_level_follows_the_protocols(kwargs: dict[str, str], level: str) -> None:
    assert Credential("c", "3", **kwargs).security_level == level
