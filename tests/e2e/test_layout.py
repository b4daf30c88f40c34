"""The code's layout rules, checked on the source: no import cycles between files in any
crate (a module file wires its children; children never import their parent back)."""

import pytest

import import_graph
from stack import ROOT


@pytest.mark.parametrize("crate", ["filter/core/src", "filter/src", "sidecar-ledger/src"])
def test_no_import_cycles(crate):
    graph = import_graph.edges(ROOT / crate)
    assert sum(len(e) for e in graph.values()) > 20, "the graph was read"
    assert import_graph.cycles(ROOT / crate) == []


def test_a_cycle_is_found(tmp_path):
    (tmp_path / "lib.rs").write_text("mod a;\nmod b;\n")
    (tmp_path / "a.rs").write_text("use crate::b::x;\n")
    (tmp_path / "b.rs").write_text("use super::a::y;\n")
    assert import_graph.cycles(tmp_path) == [["a", "b"]]
