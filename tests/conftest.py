"""Shared fixtures: the asset mirror must be configured (the Makefile and .ci/run set ZOO_ASSETS_DIR)."""

import contextlib
import os
import resource
import signal
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


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """No file of this process may grow past ``nbytes`` while inside: a write past it fails with ``EFBIG``, as a write
    to a full disk fails with ``ENOSPC`` (a real failure of the OS, for code that must clean up after one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write returns EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
