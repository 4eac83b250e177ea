"""Label texts kept across reports (exposition.LabelTexts): the same text as rendering afresh, bounded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetwatch_collector.exposition import LabelTexts, render_agent
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.textformat import label_pairs
from tests.collector.support import NOW_MS, add_antivirus, add_connectivity, add_network_devices, full_report

TEXT = st.text(alphabet=st.sampled_from(list('ab\\"\n\x00é😀 ')), max_size=8)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), TEXT), max_size=4), limit=st.integers(1, 3))
def test_kept_texts_are_the_label_texts(pairs: list[tuple[str, str]], limit: int) -> None:
    texts = LabelTexts(limit)
    key = tuple(pairs)
    assert texts.get(key) == label_pairs(key)
    assert texts.get(key) == label_pairs(key)  # kept
    for n in range(limit + 2):  # more than it keeps: it forgets, and still answers right
        assert texts.get((("n", str(n)),)) == f'n="{n}"'
    assert texts.get(key) == label_pairs(key)


def test_it_forgets_everything_when_full() -> None:
    texts = LabelTexts(limit=2)
    texts.get((("a", "1"),))
    texts.get((("a", "2"),))
    assert len(texts._texts) == 2
    texts.get((("a", "3"),))
    assert len(texts._texts) == 1


def test_an_agent_renders_the_same_with_kept_texts_across_reports() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    texts = LabelTexts()
    for seq, hostname in ((1, "pc-1"), (2, "pc-1"), (3, "pc-renamed")):
        report = add_network_devices(
            add_connectivity(add_antivirus(full_report(seq, NOW_MS + seq, hostname=hostname)))
        )
        fleet.apply("agent-1", [report])
        entry = fleet.get("agent-1")
        assert entry is not None
        assert render_agent(entry, texts) == render_agent(entry)
    # The fleet keeps its own: what /metrics shows is what a fresh rendering gives.
    assert b'host="pc-renamed"' in fleet.render()[0]
    assert fleet.render()[0].count(b'host="pc-1"') == 0
