"""Fixtures of the integration tests: ClamAV databases built with sigtool and a clamd sharing one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clamav import DATABASE_VERSION, Clamd, build_database, database_dir, running_clamd


@pytest.fixture(scope="module")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A daily.cud with the EICAR signature, built just now (kept aside: tests copy it)."""
    return build_database(tmp_path_factory.mktemp("fresh-db"))


@pytest.fixture(scope="module")
def old_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same database built by sigtool running under `faketime '30 days ago'`."""
    return build_database(
        tmp_path_factory.mktemp("old-db"), version=DATABASE_VERSION - 100, age="30 days ago"
    )


@pytest.fixture(scope="module")
def eicar_clamd(tmp_path_factory: pytest.TempPathFactory, fresh_database: Path) -> Iterator[Clamd]:
    """One clamd with the fresh EICAR database, shared by the tests that only read from it."""
    db = database_dir(tmp_path_factory.mktemp("shared-clamd"), fresh_database)
    with running_clamd(db) as clamd:
        yield clamd
