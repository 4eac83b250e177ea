"""The [remote_write] section: off by default, every mistake named by its option."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_collector.config import CollectorConfig, RemoteWriteSection, load_config
from fleetwatch_proto.tomlconfig import ConfigError


def load(tmp_path: Path, text: str) -> RemoteWriteSection:
    path = tmp_path / "collector.toml"
    path.write_text("[remote_write]\n" + text, encoding="utf-8")
    return load_config(path).remote_write


def test_off_by_default() -> None:
    assert CollectorConfig().remote_write.url == ""


def test_a_full_section(tmp_path: Path) -> None:
    section = load(
        tmp_path,
        'url = "https://127.0.0.1:8428/api/v1/write"\nca_file = "/etc/ca.pem"\nbatch_samples = 500\n'
        '[remote_write.labels]\njob = "fleetwatch-backfill"\n[remote_write.headers]\nX-Scope-OrgID = "tg"\n',
    )
    assert section.url.startswith("https://")
    assert section.batch_samples == 500
    assert section.labels == {"job": "fleetwatch-backfill"}
    assert section.headers == {"X-Scope-OrgID": "tg"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('url = "127.0.0.1:9090/api/v1/write"', "remote_write.url: '127.0.0.1:9090/api/v1/write' is not"),
        ('url = "ftp://host/x"', "is not an http:// or https:// URL"),
        ('url = "http://"', "is not an http:// or https:// URL"),
        ('url = "http://127.0.0.1/w"\nca_file = "ca.pem"', "remote_write.ca_file: only for an https:// url"),
        ("batch_samples = 0", "remote_write.batch_samples: must be positive"),
        ("max_queue_samples = 10\nbatch_samples = 20", "batch_samples: must not exceed max_queue_samples"),
        ("min_backoff_seconds = 5.0\nmax_backoff_seconds = 1.0", "max_backoff_seconds: must be at least"),
        ("max_retry_seconds = -1.0", "must not be negative"),
        ('basic_auth_username = "u"', "set both or neither"),
        ('bearer_token_file = "t"\nbasic_auth_username = "u"\nbasic_auth_password_file = "p"', "set one"),
        ('labels = "job"', "remote_write.labels: expected a table"),
        ('[remote_write.labels]\n"bad-name" = "x"', "labels.bad-name: not a label name"),
        ('[remote_write.labels]\n__name__ = "x"', "labels.__name__: not a label name"),
        ('[remote_write.labels]\njob = ""', "labels.job: expected a non-empty string"),
        ("[remote_write.labels]\njob = 1", "labels.job: expected a non-empty string"),
        ('urls = "http://x"', "unknown option 'remote_write.urls'"),
        ('[remote_write.headers]\nAuthorization = "Bearer x"', "headers.Authorization: not a header name"),
        ('[remote_write.headers]\n"Content-Encoding" = "gzip"', "headers.Content-Encoding: not a header"),
        ('[remote_write.headers]\n"X Tenant" = "a"', "headers.X Tenant: not a header name"),
        ('[remote_write.headers]\nX-Scope-OrgID = "a\\nb"', "headers.X-Scope-OrgID: expected a printable"),
    ],
)
def test_mistakes_name_the_option(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text + "\n")
    assert message in str(info.value)
