"""Collector configuration: the example file mirrors the defaults; errors name the option path."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from fleetwatch_collector.config import CollectorConfig, load_config
from fleetwatch_proto.tomlconfig import ConfigError
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "collector" / "collector.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_example_equals_defaults() -> None:
    assert load_config(EXAMPLE) == CollectorConfig()


def test_example_lists_every_option() -> None:
    with EXAMPLE.open("rb") as handle:
        data = tomllib.load(handle)
    config = CollectorConfig()
    assert set(data) == {f.name for f in dataclasses.fields(config)}
    for section in dataclasses.fields(config):
        options = {f.name for f in dataclasses.fields(getattr(config, section.name))}
        assert set(data[section.name]) == options, section.name


def test_no_file_means_defaults() -> None:
    assert load_config(None) == CollectorConfig()


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    text = '[server]\ngrpc_listen = "0.0.0.0:6000"\n[limits]\nmax_events = 10\n'
    config = load_config(write(tmp_path, text))
    assert config.server.grpc_listen == "0.0.0.0:6000"
    assert config.limits.max_events == 10
    assert config.server.http_listen == CollectorConfig().server.http_listen
    assert config.fleet == CollectorConfig().fleet
    assert config.tls == CollectorConfig().tls


def test_unknown_limits_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[limits]\nxxx = 1\n")
    assert "unknown option 'limits.xxx'" in message
    assert "max_events" in message  # the known options are listed


def test_unknown_section(tmp_path: Path) -> None:
    assert "unknown option 'metrics'" in error_of(tmp_path, "[metrics]\nport = 1\n")


def test_listen_without_port(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\ngrpc_listen = "localhost"\n')
    assert "server.grpc_listen" in message
    assert "'localhost' is not HOST:PORT" in message


@pytest.mark.parametrize("address", ["localhost:", ":9464", "host:http", "host:70000"])
def test_bad_http_listen(tmp_path: Path, address: str) -> None:
    message = error_of(tmp_path, f'[server]\nhttp_listen = "{address}"\n')
    assert "server.http_listen" in message
    assert f"{address!r} is not HOST:PORT" in message


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ('[server]\ngrpc_listen = "localhost"\n', "server.grpc_listen"),
        ("[fleet]\ndown_after_intervals = 0\n", "fleet.down_after_intervals"),
        ("[limits]\nmax_events = 0\n", "limits.max_events"),
    ],
)
def test_validation_errors_name_the_option_once(tmp_path: Path, text: str, option: str) -> None:
    """from_dict adds the section, so validate() messages must not name it again."""
    message = error_of(tmp_path, text)
    section = option.split(".", maxsplit=1)[0]
    assert f"option {option}:" in message
    assert f"{section}.{section}." not in message


def test_wrong_type_names_the_option(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[limits]\nmax_events = "10"\n')
    assert "'limits.max_events'" in message
    assert "expected int" in message


def test_bad_log_level(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\nlog_level = "verbose"\n')
    assert "'server.log_level'" in message
    assert "'verbose'" in message


def test_fleet_flush_seconds_is_gone(tmp_path: Path) -> None:
    """Every applied Push is persisted before it is acked: there is no flush period any more."""
    message = error_of(tmp_path, "[fleet]\nflush_seconds = 5\n")
    assert "unknown option 'fleet.flush_seconds'" in message
    assert "down_after_intervals" in message


def test_tls_defaults_to_plaintext_without_client_certificates() -> None:
    tls = CollectorConfig().tls
    assert (tls.cert_file, tls.key_file, tls.client_ca_file, tls.allow_insecure) == ("", "", "", False)


def test_tls_section_is_read(tmp_path: Path) -> None:
    text = (
        '[tls]\ncert_file = "s.pem"\nkey_file = "s-key.pem"\n'
        'client_ca_file = "ca.pem"\nallow_insecure = true\n'
    )
    tls = load_config(write(tmp_path, text)).tls
    assert (tls.cert_file, tls.key_file, tls.client_ca_file, tls.allow_insecure) == (
        "s.pem",
        "s-key.pem",
        "ca.pem",
        True,
    )


@pytest.mark.parametrize("text", ['cert_file = "s.pem"\n', 'key_file = "s-key.pem"\n'])
def test_tls_cert_and_key_go_together(tmp_path: Path, text: str) -> None:
    message = error_of(tmp_path, "[tls]\n" + text)
    assert "option tls.cert_file and key_file: set both or neither" in message


def test_tls_client_ca_needs_a_server_certificate(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[tls]\nclient_ca_file = "ca.pem"\n')
    assert "option tls.client_ca_file: mutual TLS needs cert_file and key_file too" in message


def test_tls_allow_insecure_must_be_a_boolean(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[tls]\nallow_insecure = "yes"\n')
    assert "'tls.allow_insecure'" in message
    assert "expected bool" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_invalid_toml(tmp_path: Path) -> None:
    assert "invalid TOML" in error_of(tmp_path, "[server\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[calls]\nmax_open_reads = 0\n", "option calls.max_open_reads: must be positive"),
        ("[calls]\npush_message_seconds = -1.0\n", "option calls.push_message_seconds: must be positive"),
        ("[enrolment]\nper_second = 0.0\n", "option enrolment.per_second: must be positive"),
        ('[http]\ncert_file = "c.pem"\n', "option http.cert_file and key_file: set both or neither"),
        ('[http]\nbasic_auth_username = "p"\n', "basic_auth_username and basic_auth_password_file"),
        ("[http]\nmax_connections = 0\n", "option http.max_connections: must be at least 1"),
    ],
)
def test_admission_options_are_checked(tmp_path: Path, text: str, message: str) -> None:
    assert message in error_of(tmp_path, text)


def test_security_defaults() -> None:
    """The defaults docs/security.md documents."""
    config = CollectorConfig()
    assert (config.calls.max_calls_per_agent, config.calls.max_open_reads) == (4, 8)
    assert config.enrolment.site_token_max_uses == 500
    assert (config.http.max_connections, config.http.timeout_seconds) == (16, 10.0)
