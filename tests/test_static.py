"""Static checks on the notebooks and the book: no outputs, parameters cell, kernelspec, toc, skeleton."""

import json

import nbformat
import papermill as pm
import pytest
import yaml
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEMPLATE = ROOT / "book" / "template" / "card_notebook.ipynb"
SKELETON = ["Overview", "Parameters", "Setup", "Load", "Quantize", "Evaluate", "Deploy", "Performance tables",
            "Exercises"]


def _headings(nb) -> list[str]:
    return [line[3:].strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("## ")]


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return {c["file"] for part in toc["parts"] for c in part["chapters"]}


def test_there_are_card_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", [*NOTEBOOKS, TEMPLATE], ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", [*NOTEBOOKS, TEMPLATE], ids=lambda p: p.name)
def test_parameters_cell_and_kernelspec(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    assert pm.inspect_notebook(str(path)), "papermill finds no parameters"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"
    assert nb.metadata["language_info"]["name"] == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_follows_the_template_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    assert _headings(nb) == SKELETON == _headings(nbformat.read(TEMPLATE, as_version=4))


def test_every_notebook_is_in_the_toc():
    files = _toc_files()
    missing = [p.name for p in NOTEBOOKS if f"notebooks/{p.stem}" not in files]
    assert not missing, f"not in _toc.yml: {missing}"
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f"_toc.yml names a missing file {f}"


def test_book_config_is_offline_and_strict():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["only_build_toc_files"] is True
    assert cfg["execute"]["execute_notebooks"] in ("force", "cache") and cfg["execute"]["timeout"] == 120
    sphinx = cfg["sphinx"]["config"]
    assert sphinx["nb_execution_raise_on_error"] is True and sphinx["nb_render_markdown_format"] == "myst"
    assert cfg["launch_buttons"]["thebe"] is False and not cfg["launch_buttons"]["binderhub_url"]
    assert yaml.safe_load((ROOT / "_toc.yml").read_text())["root"] == "book/intro"


def test_presets_name_real_parameters():
    for preset in (ROOT / "params").glob("*/*.yaml"):
        nb = ROOT / "notebooks" / f"{preset.parent.name}.ipynb"
        assert nb.exists(), f"{preset} has no notebook"
        unknown = set(yaml.safe_load(preset.read_text())) - set(pm.inspect_notebook(str(nb)))
        assert not unknown, f"{preset} sets unknown parameters {unknown}"


def test_readme_gives_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines() if line.split("#")[0].strip()]
    assert commands == ["make book", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_nbval_sanitizer_is_valid():
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    assert "regex:" in text and "replace:" in text
    json.dumps(text)


def test_the_api_page_documents_every_module():
    text = (ROOT / "book" / "api.md").read_text()
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
               for p in (ROOT / "zoo_helpers").rglob("*.py")} - {"zoo_helpers"}
    missing = {m for m in modules if f".. automodule:: {m}\n" not in text}
    assert not missing, f"book/api.md does not document {sorted(missing)}"
    assert "book/api" in _toc_files()
