"""Agent configuration: the example file matches the defaults, and bad files give errors naming the option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleetwatch_agent import schedule
from fleetwatch_agent.config import AgentConfig, ProbesSection, load_config
from fleetwatch_agent.probes import PROBES
from fleetwatch_agent.runner import bind_probes
from fleetwatch_proto.tomlconfig import ConfigError, from_dict
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "agent" / "agent.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_example_file_equals_the_defaults() -> None:
    assert load_config(EXAMPLE) == AgentConfig()


def test_no_path_gives_the_defaults() -> None:
    assert load_config(None) == AgentConfig()


def test_values_from_the_file_replace_defaults_and_lists_become_tuples(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[agent]\nid = "pc-042"\n'
            '[site]\nslug = "xa-tan-my-chanh"\ndistrict = "tp-my-tho"\ntype = "district"\n'
            '[collector]\naddresses = ["10.0.0.1:50051", "collector.example:443"]\n'
            '[probes.resources]\nenabled = false\nignore_interfaces = ["lo", "veth*"]\n',
        )
    )
    assert config.agent.id == "pc-042"
    assert config.agent.interval_seconds == AgentConfig().agent.interval_seconds
    assert config.site.type == "district"
    assert config.collector.addresses == ("10.0.0.1:50051", "collector.example:443")
    assert config.probes.resources.enabled is False
    assert config.probes.resources.ignore_interfaces == ("lo", "veth*")


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, "colector = 1\n")
    assert "'colector'" in message
    assert "collector" in message.split("known here:")[1]


def test_unknown_nested_key_names_the_full_path(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[probes.resources]\nfoo = 1\n")
    assert "'probes.resources.foo'" in message


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ('[agent]\ninterval_seconds = "15"\n', "'agent.interval_seconds'"),
        ("[collector]\nmax_batch_reports = 10.5\n", "'collector.max_batch_reports'"),
        ("[collector]\nmax_batch_reports = true\n", "'collector.max_batch_reports'"),
        ('[probes.resources]\nenabled = "yes"\n', "'probes.resources.enabled'"),
        ('[collector]\naddresses = "127.0.0.1:50051"\n', "'collector.addresses'"),
        ('[collector]\naddresses = ["127.0.0.1:50051", 7]\n', "'collector.addresses[1]'"),
    ],
)
def test_wrong_type_names_the_option(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


def test_a_section_that_is_not_a_table_is_rejected(tmp_path: Path) -> None:
    assert "probes" in config_error(tmp_path, "probes = 1\n")


def test_site_type_outside_the_contracts_names_the_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\ntype = "village"\n')
    assert "option site.type:" in message
    assert "'village'" in message
    for allowed in ("department", "district", "commune"):
        assert allowed in message


def test_int_is_accepted_for_a_float_option(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[agent]\ninterval_seconds = 30\n"))
    assert config.agent.interval_seconds == 30.0
    assert isinstance(config.agent.interval_seconds, float)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[agent\nid = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "invalid TOML" in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[agent]\ninterval_seconds = -1\n", "agent.interval_seconds"),
        ("[agent]\ninterval_seconds = 3601\n", "agent.interval_seconds"),
        ('[agent]\nid = "-leading-dash"\n', "agent.id"),
        ('[site]\nslug = "Xa-Tan-My"\n', "site.slug"),
        ('[site]\nslug = "xã-tân-mỹ"\n', "site.slug"),
        ('[site]\ndistrict = "h cai be"\n', "site.district"),
        ('[collector]\naddresses = ["nohost"]\n', "collector.addresses"),
        ('[collector]\naddresses = [":50051"]\n', "collector.addresses"),
        ('[collector]\naddresses = ["host:port"]\n', "collector.addresses"),
        ("[collector]\naddresses = []\n", "collector.addresses"),
        ("[collector]\nmax_batch_reports = 0\n", "collector.max_batch_reports"),
    ],
)
def test_validation_rejects_bad_values_naming_the_option(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[agent]\ninterval_seconds = -1\n", "agent.interval_seconds"),
        ('[site]\nslug = "Xa-Tan-My"\n', "site.slug"),
        ('[collector]\naddresses = ["nohost"]\n', "collector.addresses"),
    ],
)
def test_validation_error_names_the_option_path_once(tmp_path: Path, text: str, option: str) -> None:
    # Regression: the section prefix was once added twice ("option agent.agent.interval_seconds").
    message = config_error(tmp_path, text)
    assert f"option {option}:" in message


@pytest.mark.parametrize(
    "text",
    [
        '[site]\nslug = "xa-tan-my\\n"\n',
        '[site]\ndistrict = "h-cai-be\\n"\n',
        '[agent]\nid = "pc-042\\n"\n',
    ],
)
def test_trailing_newline_is_not_a_valid_slug_or_id(tmp_path: Path, text: str) -> None:
    # Regression: "$" with re.match also matched before a final newline.
    config_error(tmp_path, text)


def test_file_that_is_not_utf8_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    # Regression: tomllib raises UnicodeDecodeError (not TOMLDecodeError) on such bytes.
    path = tmp_path / "agent.toml"
    path.write_bytes(b'[site]\nname = "S\xf6 Y t\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[collector]\ntimeout_seconds = 0\n", "collector.timeout_seconds"),
        ("[collector]\nkeepalive_seconds = -1\n", "collector.keepalive_seconds"),
        ("[probes.resources]\ntimeout_seconds = -1\n", "probes.resources.timeout_seconds"),
        ("[collector]\nmax_batch_bytes = 1023\n", "collector.max_batch_bytes"),
        ("[collector]\nmax_batch_reports = 501\n", "collector.max_batch_reports"),
        ('[collector]\ncert_file = "client.pem"\n', "collector.cert_file"),
        ('[collector]\nkey_file = "client-key.pem"\n', "collector.cert_file and key_file"),
        ("[spool]\nmax_reports = 0\n", "spool.max_reports"),
    ],
)
def test_values_the_agent_cannot_run_with_are_rejected(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[spool]\nmax_bytes = 1000\n", "max_bytes"),
        ("[spool]\nmax_age_seconds = 0\n", "max_age_seconds"),
        ("[spool]\nmax_age_seconds = -60\n", "max_age_seconds"),
    ],
)
def test_spool_bounds_must_be_positive(tmp_path: Path, text: str, name: str) -> None:
    message = config_error(tmp_path, text)
    assert "option spool." in message
    assert name in message


def test_removed_max_queued_reports_is_an_unknown_option(tmp_path: Path) -> None:
    # The in-memory queue became the on-disk spool; its bound moved to spool.max_reports.
    message = config_error(tmp_path, "[collector]\nmax_queued_reports = 1000\n")
    assert "unknown option 'collector.max_queued_reports'" in message


def test_new_collector_and_spool_options_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[collector]\naddresses = ["collector.example:443"]\ntls = "on"\n'
            'ca_file = "/etc/fleetwatch/ca.pem"\ncert_file = "/etc/fleetwatch/client.pem"\n'
            'key_file = "/etc/fleetwatch/client-key.pem"\nserver_name = "collector.internal"\n'
            'token_file = "/etc/fleetwatch/token"\nmax_batch_bytes = 65536\n'
            "[spool]\nmax_reports = 100\nmax_bytes = 2048\nmax_age_seconds = 3600\n",
        )
    )
    collector = config.collector
    assert collector.tls == "on"
    assert collector.ca_file == "/etc/fleetwatch/ca.pem"
    assert (collector.cert_file, collector.key_file) == (
        "/etc/fleetwatch/client.pem",
        "/etc/fleetwatch/client-key.pem",
    )
    assert collector.server_name == "collector.internal"
    assert collector.token_file == "/etc/fleetwatch/token"
    assert collector.max_batch_bytes == 65536
    assert (config.spool.max_reports, config.spool.max_bytes) == (100, 2048)
    assert config.spool.max_age_seconds == 3600.0
    assert isinstance(config.spool.max_age_seconds, float)


def test_new_options_default_to_plain_tls_auto_and_a_day_of_spool() -> None:
    config = AgentConfig()
    assert config.collector.tls == "auto"
    collector = config.collector
    assert collector.ca_file == collector.cert_file == collector.server_name == collector.token_file == ""
    assert config.collector.max_batch_bytes == 1024 * 1024
    # A day of reports at the default cadence fits the default bounds.
    cadence = schedule.cadence_of(config.agent.interval_seconds, bind_probes(config.probes))
    assert config.spool.max_reports * cadence >= 86400
    assert config.spool.max_age_seconds == 86400


def test_tls_mode_names_the_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[collector]\ntls = "yes"\n')
    assert "'collector.tls'" in message
    for allowed in ("auto", "on", "off"):
        assert allowed in message


@pytest.mark.parametrize("key", ["ca_file", "cert_file", "key_file", "server_name", "token_file"])
def test_file_and_name_options_must_be_strings(tmp_path: Path, key: str) -> None:
    assert f"'collector.{key}'" in config_error(tmp_path, f"[collector]\n{key} = 1\n")


def test_the_probes_table_has_one_section_per_probe_of_the_registry() -> None:
    section = ProbesSection()
    assert [f.name for f in dataclasses.fields(section)] == [p.name for p in PROBES]
    for probe in PROBES:
        assert getattr(section, probe.name) == probe.config_type()


def test_a_probe_not_in_the_registry_is_an_unknown_option_listing_the_known_ones(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[probes.printers]\nenabled = true\n")
    assert "unknown option 'probes.printers'" in message
    assert all(p.name in message.split("known here:")[1] for p in PROBES)


@pytest.mark.parametrize("probe", [p.name for p in PROBES])
def test_each_probes_section_reports_unknown_keys_by_path(tmp_path: Path, probe: str) -> None:
    assert f"unknown option 'probes.{probe}.nonsense'" in config_error(
        tmp_path, f"[probes.{probe}]\nnonsense = 1\n"
    )


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Notepad saves UTF-8 with a BOM; tomllib alone calls it an invalid statement."""
    path = tmp_path / "agent.toml"
    path.write_bytes("\ufeff[agent]\ninterval_seconds = 30\n[site]\nname = 'Xã Tân Mỹ'\n".encode())
    config = load_config(path)
    assert (config.agent.interval_seconds, config.site.name) == (30.0, "Xã Tân Mỹ")


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ('[agent]\ndata_dir = "C:\\data\\fleetwatch"\n', "'agent.data_dir'"),  # \d: invalid TOML
        ('[agent]\ndata_dir = "C:\\Users\\fw"\n', "'agent.data_dir'"),  # \U: invalid TOML
        ('[agent]\ndata_dir = "C:\\new\\fleetwatch"\n', "'agent.data_dir'"),  # \n: valid, a line feed
        ('[collector]\nca_file = "C:\\temp\\ca.pem"\n', "'collector.ca_file'"),  # \t: valid, a tab
        ('[collector]\naddresses = ["a:1", "\\\\\\\\srv\\bad:2"]\n', "'collector.addresses[1]'"),  # \b
    ],
)
def test_windows_paths_in_double_quotes_name_the_option_and_say_what_to_write(
    tmp_path: Path, text: str, option: str
) -> None:
    message = config_error(tmp_path, text)
    assert option in message
    assert "single quotes, 'C:\\path\\to'" in message
    assert 'forward slashes, "C:/path/to"' in message


def test_windows_paths_in_single_quotes_or_with_forward_slashes_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path, "[agent]\ndata_dir = 'C:\\new\\fleetwatch'\n[collector]\nca_file = \"C:/temp/ca.pem\"\n"
        )
    )
    assert config.agent.data_dir == "C:\\new\\fleetwatch"
    assert config.collector.ca_file == "C:/temp/ca.pem"


def test_a_control_character_from_a_unicode_escape_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\nname = "Xa\\u0007"\n')
    assert "'site.name'" in message
    assert "U+0007" in message


def test_invalid_toml_names_the_line_and_the_option(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[agent]\nid = 'pc-1'\ninterval_seconds =\n")
    assert "invalid TOML at line 3, option 'agent.interval_seconds'" in message
    assert "the value after '=' is missing" in message


def test_invalid_toml_in_an_array_table_names_the_table(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[probes.connectivity.targets]]\nname = "x"\naddress = \n')
    assert "option 'probes.connectivity.targets.address'" in message


def test_text_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b'[site]\nslug = "xa"\nname = "S\xf6 Y t\xe9"\n')
    with pytest.raises(ConfigError, match=r"not UTF-8: byte 0xf6 on line 3; save the file as UTF-8"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[agent]\ninterval_seconds = "15"\n', "expected float (a number), got str '15'; write the number"),
        ("[collector]\nmax_batch_reports = 10.5\n", "expected int (an integer), got float 10.5"),
        ('[probes.resources]\nenabled = "yes"\n', "write true or false, without quotes"),
        ("[agent]\nid = true\n", "expected str (a string), got bool true"),
        ('[collector]\naddresses = "127.0.0.1:50051"\n', 'write ["127.0.0.1:50051"]'),
    ],
)
def test_wrong_types_say_what_to_write(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in config_error(tmp_path, text)


@dataclasses.dataclass(frozen=True)
class Upstream:
    url: str
    retries: int = 3


@dataclasses.dataclass(frozen=True)
class WithRequired:
    upstream: Upstream = dataclasses.field(default_factory=lambda: Upstream("x"))


def test_an_option_without_default_is_named_when_missing() -> None:
    with pytest.raises(ConfigError, match=r"example.toml: option upstream.url: missing; it has no default"):
        from_dict(WithRequired, {"upstream": {"retries": 1}}, source="example.toml")


def test_failback_seconds_is_read_and_must_be_positive(tmp_path: Path) -> None:
    assert (
        load_config(write(tmp_path, "[collector]\nfailback_seconds = 60\n")).collector.failback_seconds == 60
    )
    assert "option collector.failback_seconds:" in config_error(
        tmp_path, "[collector]\nfailback_seconds = 0\n"
    )
