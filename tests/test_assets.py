"""Asset registry: mirror, cache and download resolution, checksums, offline errors, extraction."""

import functools
import http.server
import re
import shutil
import socket
import threading
import time
from dataclasses import replace

import pytest

from zoo_helpers import assets


def _manifest_rows(mirror):
    text = (mirror / "MANIFEST.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|", text, flags=re.M)
    return [(p, int(n), h) for p, n, h in rows]


def test_registry_covers_every_manifest_row(mirror):
    rows = _manifest_rows(mirror)
    assert len(rows) >= 60  # mirrored files plus the "not mirrored" table
    by_tail = {a.path.split("/", 3)[-1] if "stm32ai-modelzoo/" in a.path else a.path: a
               for a in assets.registry().values()}
    for path, size, sha in rows:
        key = path.replace("...", "ST_pretrainedmodel_public_dataset/coco_person_17kpts")
        key = f"pose_estimation/movenet/{key}" if not key.startswith(("github/", "pypi/")) else key
        assert key in by_tail, f"{path} is not registered"
        asset = by_tail[key]
        assert (asset.size, asset.sha256) == (size, sha)
        assert asset.url or asset.pypi, f"{asset.name} has no upstream source"


def test_fetch_from_mirror_verifies(mirror, isolated_cache):
    path = assets.fetch("movenet_lightning_192_int8")
    assert path.is_relative_to(mirror)
    by_path = assets.fetch("github/google-coral/test_data/movenet_single_pose_lightning_ptq.tflite")
    assert by_path == path
    assert not isolated_cache.exists()  # a mirror hit never copies into the cache


def test_corrupt_mirror_file_is_rejected(mirror, tmp_path, monkeypatch, isolated_cache):
    asset = assets.lookup("coral_squat_lightning_reference")
    fake = tmp_path / "mirror" / asset.path
    fake.parent.mkdir(parents=True)
    fake.write_bytes((mirror / asset.path).read_bytes().replace(b"0.5", b"0.6", 1))
    monkeypatch.setenv("ZOO_ASSETS_DIR", str(tmp_path / "mirror"))
    with pytest.raises(assets.ChecksumError, match="not used"):
        assets.fetch(asset.name, download=False)


def test_a_verified_file_is_hashed_again_only_when_it_changes(mirror, tmp_path, monkeypatch, isolated_cache):
    asset = assets.lookup("coral_squat_lightning_reference")
    copy = tmp_path / "mirror" / asset.path
    copy.parent.mkdir(parents=True)
    original = (mirror / asset.path).read_bytes()
    copy.write_bytes(original)
    monkeypatch.setenv("ZOO_ASSETS_DIR", str(tmp_path / "mirror"))
    hashed = []
    monkeypatch.setattr(assets, "sha256_of", lambda path: hashed.append(path) or assets.hashlib.sha256(
        path.read_bytes()).hexdigest())
    assert assets.fetch(asset.name, download=False) == copy
    assert assets.fetch(asset.name, download=False) == copy
    assert len(hashed) == 1
    time.sleep(0.01)
    copy.write_bytes(original.replace(b"0.5", b"0.6", 1))  # same size, new content and mtime
    with pytest.raises(assets.ChecksumError, match="not used"):
        assets.fetch(asset.name, download=False)
    assert len(hashed) == 2


def test_unknown_name_is_a_clear_error():
    with pytest.raises(assets.UnknownAssetError, match="no asset named 'movenet_giant'"):
        assets.lookup("movenet_giant")


def test_unmirrored_asset_offline_names_the_variable_and_url(mirror, isolated_cache):
    asset = assets.lookup("st_movenet_a100_heatmaps_192_float")
    assert asset.mirrored is False
    with pytest.raises(assets.AssetUnavailableError) as err:
        assets.fetch(asset.name, download=False)
    assert "ZOO_ASSETS_DIR" in str(err.value) and asset.url in str(err.value)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture()
def http_mirror(mirror):
    """Serve the mirror over loopback HTTP, standing in for the upstream hosts."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(mirror)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _with_url(monkeypatch, name, url):
    reg = dict(assets.registry())
    reg[name] = replace(reg[name], url=url)
    monkeypatch.setattr(assets, "registry", lambda: reg)


def test_download_verifies_then_caches(http_mirror, isolated_cache, monkeypatch):
    asset = assets.lookup("coral_squat_lightning_reference")
    _with_url(monkeypatch, asset.name, f"{http_mirror}/{asset.path}")
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    first = assets.fetch(asset.name)
    assert first.is_relative_to(isolated_cache) and assets.sha256_of(first) == asset.sha256
    _with_url(monkeypatch, asset.name, "http://127.0.0.1:9/unreachable")  # second call must not download
    assert assets.fetch(asset.name) == first


def test_download_with_wrong_content_never_enters_the_cache(http_mirror, isolated_cache, monkeypatch):
    asset = assets.lookup("coral_squat_lightning_reference")
    other = assets.lookup("coral_squat_thunder_reference").path
    _with_url(monkeypatch, asset.name, f"{http_mirror}/{other}")
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    with pytest.raises(assets.ChecksumError):
        assets.fetch(asset.name)
    assert not (isolated_cache / asset.path).exists()


def test_stalled_server_fails_within_the_timeout(isolated_cache, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections but never answers
    _with_url(monkeypatch, "coral_squat_lightning_reference", f"http://127.0.0.1:{listener.getsockname()[1]}/x")
    monkeypatch.setattr(assets, "DOWNLOAD_TIMEOUT", 1.0)
    monkeypatch.delenv("ZOO_ASSETS_DIR", raising=False)
    start = time.monotonic()
    with pytest.raises(assets.AssetUnavailableError, match="ZOO_ASSETS_DIR is not set"):
        assets.fetch("coral_squat_lightning_reference")
    assert time.monotonic() - start < 15
    listener.close()


def test_cache_copy_is_verified_on_entry(mirror, isolated_cache, monkeypatch):
    asset = assets.lookup("coral_squat_thunder_reference")
    cached = isolated_cache / asset.path
    cached.parent.mkdir(parents=True)
    shutil.copy(mirror / asset.path, cached)
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    assert assets.fetch(asset.name, download=False) == cached


def test_a_cache_file_changed_after_it_was_verified_is_never_returned(mirror, isolated_cache, monkeypatch):
    asset = assets.lookup("coral_squat_thunder_reference")
    cached = isolated_cache / asset.path
    cached.parent.mkdir(parents=True)
    original = (mirror / asset.path).read_bytes()
    cached.write_bytes(original)
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    assert assets.fetch(asset.name, download=False) == cached
    time.sleep(0.01)
    cached.write_bytes(original.replace(b"0.", b"9.", 1))  # tampered after the first, verified use
    with pytest.raises(assets.ChecksumError, match="not used"):
        assets.fetch(asset.name, download=False)


def test_an_unwritable_cache_names_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("ZOO_ASSETS_DIR", raising=False)
    with pytest.raises(assets.AssetError, match="ZOO_CACHE_DIR"):
        assets.fetch("coral_squat_lightning_reference")


def test_extracting_into_an_unwritable_cache_names_the_variable(mirror, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(assets.AssetError, match="ZOO_CACHE_DIR"):
        assets.extract("tof_handposture_dataset")


def test_archive_extracts_once(mirror, isolated_cache):
    folder = assets.extract("tof_handposture_dataset")
    npz = sorted(folder.rglob("*.npz"))
    assert len(npz) == 162
    stamp = (folder / ".complete").stat().st_mtime_ns
    assert assets.extract("tof_handposture_dataset") == folder
    assert (folder / ".complete").stat().st_mtime_ns == stamp


def test_info_includes_licence_text(mirror):
    meta = assets.info("mmpose_coco_annotations")
    assert "CC BY 4.0" in meta["licence"]
    assert "Apache License" in meta["licence_text"]
    assert assets.info("mediapipe_hand_landmark_full")["source"].startswith("PyPI mediapipe==0.10.21")
