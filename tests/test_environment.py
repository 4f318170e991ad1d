"""The pinned environment: environment.yml and requirements.txt agree, and the venv matches the pins."""

import re
from importlib import metadata

import yaml
from conftest import ROOT


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)", line)
        assert m, f"requirements.txt line is not an exact pin: {line!r}"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def test_every_requirement_is_pinned_once():
    pins = _requirements()
    assert {"tensorflow-cpu", "numpy", "onnxruntime", "ai-edge-litert", "jupyter-book", "papermill"} <= set(pins)
    assert pins["jupyter-book"].startswith("1."), "Jupyter Book 2 cannot build HTML offline"


def test_environment_yml_installs_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip_section
    pins = _requirements()
    for item in pip_section + [d for d in deps if isinstance(d, str)]:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*[=]=?\s*([0-9][^\s]*)", item)
        if m and m.group(1).lower() != "python":
            assert pins.get(m.group(1).lower()) == m.group(2), f"environment.yml pins {item}, requirements differ"


def test_installed_versions_match_the_pins():
    mismatched = {}
    for name, version in _requirements().items():
        installed = metadata.version(name)
        if installed != version:
            mismatched[name] = (installed, version)
    assert not mismatched, f"installed != pinned: {mismatched}"
