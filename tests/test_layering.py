"""The package's shape and the notebooks' readability, checked on the source (no assets).

The layer rules themselves are import-linter contracts (``.importlinter``, run by ``lint-imports`` in the
static lane); here: no import cycle at all (grimp reads imports inside functions too), the package's own
imports at module top, a docstring per module, a public API per subpackage, and notebook code a reader can
follow (lines of at most 100 characters, cells of at most 15 lines, at most 5 positional arguments a call).
"""

import ast
import configparser
import json

import grimp
import pytest
from conftest import ROOT

PACKAGE = ROOT / "zoo_helpers"
LAYERS = ["registry", "results", "runtime", "evaluation", "quant", "board", "cards", "deploy", "book"]
MODULES = sorted(PACKAGE.rglob("*.py"))


def _graph(root=PACKAGE) -> dict[str, set[str]]:
    """Every import between the package's modules, inside functions too. ``from pkg import mod`` imports the
    package ``pkg`` (its ``__init__`` runs) and the module ``pkg.mod``; ``import pkg.mod as m`` the module."""
    modules = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found = {a.name for a in node.names}
            else:
                continue
            edges[name] |= {m for m in found if m in modules and m != name}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), i.e. every import cycle."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return out


def test_the_import_graph_has_no_cycle():
    edges = _graph()
    assert len(edges) > 50
    assert not _cycles(edges), f"import cycles: {_cycles(edges)}"
    graph = grimp.build_graph("zoo_helpers", cache_dir=None)  # import-linter's own reading agrees
    assert not _cycles({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    assert _cycles({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a", "p.d"}}) == [["p.a", "p.b", "p.c"]]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg import mod\n")
    (pkg / "mod.py").write_text("from pkg import other\n")
    (pkg / "other.py").write_text("")
    assert _cycles(_graph(pkg)) == [["pkg", "pkg.mod"]]  # a module that imports its own package's __init__


def test_the_contracts_name_every_layer():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:layers"]["layers"]
    named = {part.strip().removeprefix("zoo_helpers.") for line in layers.split("\n") for part in line.split("|")
             if part.strip()}
    assert named == set(LAYERS)
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} | {"results"}
    assert found == set(LAYERS), "every subpackage is a layer of the contracts"


def _late_package_imports(path) -> list[int]:
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom | ast.Import) and id(n) not in top
            and any(name.startswith("zoo_helpers") for name in
                    ([n.module or ""] if isinstance(n, ast.ImportFrom) else [a.name for a in n.names]))]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_imports_stand_at_module_top_and_modules_say_their_job(path):
    assert not _late_package_imports(path), f"imports of zoo_helpers inside functions at lines " \
                                            f"{_late_package_imports(path)}; import at module top"
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"


@pytest.mark.parametrize("layer", [name for name in LAYERS if name != "results"])
def test_each_subpackage_names_its_public_api(layer):
    init = PACKAGE / layer / "__init__.py"
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"{layer}/__init__.py has no docstring"
    public = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "__all__")
    modules = {p.stem for p in (PACKAGE / layer).glob("*.py") if p.stem != "__init__"}
    programs = {"emulator", "placement_report", "divergence_report"}  # run with -m: a package importing them warns
    assert modules - programs <= set(public), f"{layer}: modules missing from __all__: {modules - set(public)}"
    for name in modules:
        assert f"{layer}.{name}" in init.read_text(), f"{layer}/__init__.py does not describe {name}"


def _code_cells(parameters: bool = True):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] == "code" and (parameters or "parameters" not in cell["metadata"].get("tags", [])):
                yield f"{nb.name} cell {i}", "".join(cell["source"])


CELLS = list(_code_cells())


def test_notebooks_hold_no_model_facts():
    """Input domains, asset names and file loading belong to the catalog, not to chapters."""
    for name, src in CELLS:
        for fact in ("rescale=", "assets.fetch(", "load_model(", "1 / 255", "_int8_pc\"", "model_catalog"):
            assert fact not in src, f"{name}: {fact!r} in a code cell: {src.splitlines()[0]}"


def test_notebook_lines_fit_100_characters():
    long = [(name, len(line)) for name, src in CELLS for line in src.splitlines() if len(line) > 100]
    assert not long, f"notebook lines over 100 characters: {long}"


def test_notebook_cells_stay_under_16_lines():
    """Every code cell a reader follows; the parameters cell is a list of knobs (papermill wants them in one cell)."""
    long = [(name, len(src.splitlines())) for name, src in _code_cells(parameters=False) if len(src.splitlines()) > 15]
    assert not long, f"code cells over 15 lines: {long}"


def _positional(src: str) -> list[tuple[int, int]]:
    tree = ast.parse("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return [(n.lineno, len(n.args)) for n in ast.walk(tree) if isinstance(n, ast.Call) and len(n.args) > 5]


def test_no_call_in_a_notebook_takes_more_than_5_positional_arguments():
    many = [(name, found) for name, src in CELLS if (found := _positional(src))]
    assert not many, f"calls with more than 5 positional arguments (use keywords): {many}"


def test_the_readability_checks_catch_what_they_look_for():
    assert _positional("f(1, 2, 3, 4, 5, 6)") == [(1, 6)] and not _positional("f(1, 2, 3, 4, 5, x=6)")
    bad = PACKAGE / "registry" / "catalog.py"
    assert not _late_package_imports(bad)
    tree_src = "def f():\n    from zoo_helpers.registry import catalog\n"
    tmp = ROOT / "_build" / "late_import_probe.py"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_text(tree_src)
    try:
        assert _late_package_imports(tmp) == [2]
    finally:
        tmp.unlink()
