"""Layering and size rules of the package, and what notebooks may not hold (checked on the source, no assets)."""

import ast
import json

import pytest
from conftest import ROOT

PACKAGE = ROOT / "zoo_helpers"
CARDS = {"singlepose", "multipose", "landmark_eval", "handposture", "pipelines"}
RUNTIMES = {"runtime", "catalog", "quantize", "compare", "equalize", "footprint", "deploy"}
RENDERING = {"tables", "present", "plots"}


def _imports(path) -> set[str]:
    """Every zoo_helpers module ``path`` imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo_helpers"):
            parts = node.module.split(".")
            out |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("zoo_helpers.")}
    return out


@pytest.mark.parametrize("module", ["decoders", "metrics", "keypoints", "transforms", "batches"])
def test_arrays_layer_never_imports_runtimes_cards_or_rendering(module):
    bad = _imports(PACKAGE / f"{module}.py") & (CARDS | RUNTIMES | RENDERING | {"board"})
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "board").glob("*.py")), ids=lambda p: p.name)
def test_board_package_never_imports_cards_or_tables(path):
    bad = _imports(path) & (CARDS | RENDERING)
    assert not bad, f"board/{path.name} imports {bad}"


def test_stream_layer_never_imports_the_card():
    assert "handposture" not in _imports(PACKAGE / "tofstream.py")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_under_300_lines_with_a_docstring(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 300, f"{path.name} has {len(text.splitlines())} lines; split it by job"
    assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"


def _code_cells():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                yield nb.name, "".join(cell["source"])


def test_notebooks_hold_no_model_facts():
    """Input domains, asset names and file loading belong to the catalog, not to chapters."""
    for name, src in _code_cells():
        for fact in ("rescale=", "assets.fetch(", "load_model(", "1 / 255", "_int8_pc\"", "model_catalog"):
            assert fact not in src, f"{name}: {fact!r} in a code cell: {src.splitlines()[0]}"


def test_notebook_code_stays_at_least_20_percent_under_the_418_lines_it_had():
    total = sum(len(src.splitlines()) for _, src in _code_cells())
    assert total <= 0.8 * 418, f"{total} lines of notebook code"
