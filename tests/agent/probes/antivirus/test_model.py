"""The antivirus state rules: classify one product, roll products up to the host, and "not installed"."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig, _linux
from fleetwatch_agent.probes.antivirus.model import (
    FUTURE_TOLERANCE_SECONDS,
    STATE_ORDER,
    AntivirusResult,
    ProductStatus,
    State,
    classify,
    clock_skew,
    host_state,
    signature_date,
)
from fleetwatch_agent.probes.context import ProbeContext

NOW = 1_795_805_400.0
DAY = 86400.0
THREE_DAYS = 3 * DAY
FRESH = int(NOW - 3600)  # signatures one hour old
OLD = int(NOW - 30 * DAY)
FUTURE = int(NOW + 400 * DAY)  # the host's clock is behind, or the database carries a wrong date


def state_of(
    realtime: bool | None,
    signatures: int,
    *,
    flagged: bool = False,
    expired: bool = False,
    never: bool = False,
) -> State:
    return classify(
        realtime_protection=realtime,
        signature_updated_unix=signatures,
        now_unix=NOW,
        outdated_after_seconds=THREE_DAYS,
        flagged_outdated=flagged,
        expired=expired,
        never_updated=never,
    )


def test_on_with_fresh_signatures_is_protected() -> None:
    assert state_of(True, FRESH) == "protected"


def test_on_with_old_signatures_is_outdated() -> None:
    assert state_of(True, OLD) == "outdated"


def test_outdated_only_strictly_after_the_threshold() -> None:
    assert state_of(True, int(NOW - THREE_DAYS)) == "protected"
    assert state_of(True, int(NOW - THREE_DAYS) - 1) == "outdated"


def test_flagged_out_of_date_by_the_product_is_outdated_even_with_a_recent_time() -> None:
    assert state_of(True, FRESH, flagged=True) == "outdated"


def test_expired_beats_every_other_reading() -> None:
    for realtime, signatures in itertools.product((True, False, None), (FRESH, OLD, 0)):
        assert state_of(realtime, signatures, expired=True) == "expired", (realtime, signatures)


def test_off_is_disabled_whatever_the_signatures() -> None:
    for signatures in (FRESH, OLD, 0):
        assert state_of(False, signatures) == "disabled"
        assert state_of(False, signatures, flagged=True) == "disabled"


def test_unreadable_protection_is_unknown() -> None:
    for signatures in (FRESH, OLD, 0):
        assert state_of(None, signatures) == "unknown"


def test_unknown_signature_time_is_never_protected() -> None:
    assert state_of(True, 0) == "unknown"
    assert state_of(True, -5) == "unknown"
    # ... but a product that says its signatures are out of date is outdated.
    assert state_of(True, 0, flagged=True) == "outdated"


def test_never_updated_signatures_are_outdated_not_unknown() -> None:
    assert state_of(True, 0, never=True) == "outdated"
    assert state_of(True, 0) == "unknown"  # not known to be never: unknown
    assert state_of(False, 0, never=True) == "disabled"
    assert state_of(None, 0, never=True) == "unknown"
    assert state_of(True, 0, never=True, expired=True) == "expired"


def test_signatures_dated_after_the_clock_are_unknown_beyond_the_tolerance() -> None:
    assert state_of(True, FUTURE) == "unknown"
    assert clock_skew(FUTURE, NOW) == 400 * DAY
    edge = int(NOW + FUTURE_TOLERANCE_SECONDS)
    assert (state_of(True, edge), clock_skew(edge, NOW)) == ("protected", 0)
    assert (state_of(True, edge + 1), clock_skew(edge + 1, NOW)) == ("unknown", FUTURE_TOLERANCE_SECONDS + 1)
    assert state_of(False, FUTURE) == "disabled"
    assert state_of(True, FUTURE, flagged=True) == "outdated"  # the product's own word still counts


def test_a_date_after_the_clock_is_reported_as_its_skew_not_as_an_age() -> None:
    assert signature_date(FUTURE, NOW) == (0, 400 * DAY)
    assert signature_date(FRESH, NOW) == (FRESH, 0)
    assert signature_date(-5, NOW) == (0, 0)


def test_protected_only_when_on_fresh_known_and_not_flagged_or_expired() -> None:
    """The whole grid: "protected" is never reached by accident."""
    grid = itertools.product(
        (True, False, None), (FRESH, OLD, FUTURE, 0, -1), (False, True), (False, True), (False, True)
    )
    for realtime, signatures, flagged, expired, never in grid:
        state = state_of(realtime, signatures, flagged=flagged, expired=expired, never=never)
        should_protect = realtime is True and signatures == FRESH and not (flagged or expired or never)
        assert (state == "protected") == should_protect, (
            realtime,
            signatures,
            flagged,
            expired,
            never,
            state,
        )


def product(state: State, name: str = "P") -> ProductStatus:
    return ProductStatus(name=name, state=state)


def test_host_without_products_is_not_installed() -> None:
    assert host_state(()) == "not_installed"


def test_host_state_is_the_best_state_of_any_product() -> None:
    for better, worse in itertools.combinations(STATE_ORDER, 2):
        pair = (product(worse, "a"), product(better, "b"))
        assert host_state(pair) == better, (better, worse)
        assert host_state(pair[::-1]) == better, (better, worse)


def test_host_state_order_is_the_documented_one() -> None:
    assert STATE_ORDER == (
        "protected",
        "outdated",
        "expired",
        "disabled",
        "unknown",
        "not_installed",
        "stale",
    )
    products = tuple(product(s, s) for s in reversed(STATE_ORDER))
    assert host_state(products) == "protected"
    assert host_state(products[:-1]) == "outdated"
    assert host_state((product("unknown"), product("disabled"), product("unknown"))) == "disabled"


def test_stale_registrations_never_make_the_host_state() -> None:
    assert host_state((product("stale"),)) == "not_installed"  # only a leftover: nothing protects
    assert host_state((product("stale", "a"), product("disabled", "b"))) == "disabled"
    assert host_state((product("unknown", "a"), product("stale", "b"), product("stale", "c"))) == "unknown"


def test_config_validation_names_the_option() -> None:
    with pytest.raises(ValueError, match=r"^timeout_seconds"):
        AntivirusConfig(timeout_seconds=0).validate()
    with pytest.raises(ValueError, match=r"^outdated_after_days"):
        AntivirusConfig(outdated_after_days=-1).validate()
    AntivirusConfig().validate()


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment edge of a host without ClamAV: no binaries at their paths, none on PATH."""
    monkeypatch.setattr(_linux, "CLAMAV_BINARIES", ())
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)


def empty_config(tmp_path: Path) -> AntivirusConfig:
    (tmp_path / "db").mkdir()
    return AntivirusConfig(
        clamav_database_dir=str(tmp_path / "db"),
        clamd_socket=str(tmp_path / "clamd.sock"),
        clamd_log=str(tmp_path / "clamd.log"),
        freshclam_log=str(tmp_path / "freshclam.log"),
    )


@pytest.mark.usefixtures("nothing_installed")
def test_no_binaries_and_no_database_is_not_clamav(tmp_path: Path) -> None:
    assert _linux.clamav_status(empty_config(tmp_path), NOW) is None


@pytest.mark.usefixtures("nothing_installed")
def test_no_product_at_all_makes_the_host_not_installed(tmp_path: Path) -> None:
    if _linux.other_products():
        pytest.skip("this machine has another antivirus product installed under /opt")
    config = empty_config(tmp_path)
    # A log with a detection must not be reported for a product that is not there.
    Path(config.clamd_log).write_text("Fri Nov 27 18:51:06 2026 -> /x: Eicar-Test-Sig FOUND\n")
    result = _linux.make_collector(config, ProbeContext(tmp_path))()
    assert result == AntivirusResult(products=(), host_state="not_installed")


@pytest.mark.usefixtures("nothing_installed")
def test_a_database_without_binaries_still_counts_as_installed(tmp_path: Path) -> None:
    """Leftover databases mean ClamAV is (partly) there: shown, never silently "not installed"."""
    config = empty_config(tmp_path)
    header = b"ClamAV-VDB:27 Nov 2026 18-50 +0000:27100:1:216:md5:X:builder:1795805400"
    (Path(config.clamav_database_dir) / "daily.cud").write_bytes(header.ljust(512, b" "))
    status = _linux.clamav_status(config, NOW)
    assert status is not None
    assert (status.name, status.signature_version, status.signature_updated_unix) == (
        "ClamAV",
        "27100",
        1795805400,
    )
    assert status.realtime_protection is False
    assert status.state == "disabled"
