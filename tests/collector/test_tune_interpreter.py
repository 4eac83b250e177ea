"""The collector's interpreter settings: rarer young and full GC collections, a shorter switch interval."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from fleetwatch_collector.server import (
    GC_OLDEST_THRESHOLD,
    GC_YOUNG_THRESHOLD,
    SWITCH_INTERVAL_SECONDS,
    tune_interpreter,
)


@pytest.fixture
def restored() -> Iterator[None]:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*threshold)
    sys.setswitchinterval(interval)


def test_python_defaults_are_tuned(restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    tune_interpreter()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, GC_OLDEST_THRESHOLD)
    assert GC_OLDEST_THRESHOLD > 10
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    assert SWITCH_INTERVAL_SECONDS < 0.005


def test_settings_an_operator_made_stricter_are_left(restored: None) -> None:
    gc.set_threshold(0, 10, 10)  # collection disabled
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS / 2)
    tune_interpreter()
    assert gc.get_threshold() == (0, 10, 10)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS / 2)
    gc.set_threshold(50_000, 10, 1000)
    tune_interpreter()
    assert gc.get_threshold() == (50_000, 10, 1000)
