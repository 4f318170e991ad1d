"""Shared fixtures: the asset mirror must be configured (the Makefile and .ci/run set ZOO_ASSETS_DIR)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    env = os.environ.get("ZOO_ASSETS_DIR")
    if not env or not (Path(env) / "MANIFEST.md").is_file():
        pytest.fail("ZOO_ASSETS_DIR must point at the asset mirror (run the tests through `make test`)")
    return Path(env)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_CACHE_DIR", str(cache))
    return cache
