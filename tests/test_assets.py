"""Asset registry: mirror, cache and download resolution, checksums, offline errors, extraction."""

import functools
import hashlib
import http.server
import re
import shutil
import socket
import threading
import time
from dataclasses import replace

import pytest

from zoo_helpers.registry import assets, hashing


def _manifest_rows(mirror):
    text = (mirror / "MANIFEST.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|", text, flags=re.M)
    return [(p, int(n), h) for p, n, h in rows]


def test_registry_covers_every_manifest_row(mirror):
    rows = _manifest_rows(mirror)
    text = (mirror / "MANIFEST.md").read_text()
    assert len(rows) >= 60  # mirrored files plus the "not mirrored" table
    by_tail = {a.path.split("/", 3)[-1] if "stm32ai-modelzoo/" in a.path else a.path: a
               for a in assets.registry().values()}
    for path, size, sha in rows:
        key = path.replace("...", "ST_pretrainedmodel_public_dataset/coco_person_17kpts")
        key = f"pose_estimation/movenet/{key}" if not key.startswith(("github/", "pypi/")) else key
        asset = by_tail.get(key) or assets.lookup(key)  # a single entry, or a member of a dataset entry
        assert (asset.size, asset.sha256) == (size, sha)
        assert asset.url or asset.pypi, f"{asset.name} has no upstream source"
    row = r"^\| `(github/[^`]+)` \| \d+ \| `[0-9a-f]{64}` \| (\S+) \|"
    upstream = dict(re.findall(row, text, flags=re.M))
    for name, dataset in assets.registry().items():
        if dataset.members:  # every member's URL is the set's root URL plus its path, as the manifest says
            assert all(upstream[m.path] == m.url for m in assets.members(name).values()), name


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
    monkeypatch.setattr(hashing, "sha256_of", lambda path: hashed.append(path) or hashlib.sha256(
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


def test_a_dataset_is_one_entry_whose_members_resolve_like_files(mirror):
    files = assets.members("coco_val2017_mini")
    assert len(files) == 161 and sum(1 for rel in files if rel.startswith("val2017/")) == 159
    ann = assets.lookup("github/Obmutescence/COCO-MINI/annotations/person_keypoints_val2017.json")
    assert ann is files["annotations/person_keypoints_val2017.json"]
    assert assets.fetch(ann.name) == mirror / ann.path
    paths = assets.fetch_members("hand_graph_cnn_real_test", "*.mat", progress=False)
    assert sorted(paths) == ["data/real_world_testset/params.mat", "data/real_world_testset/pose_gt.mat"]
    assert assets.status("lsp_extended_2000") == "mirror"
    with pytest.raises(assets.AssetError, match="fetch_members"):
        assets.fetch("lsp_extended_2000")
    with pytest.raises(assets.AssetError, match="no member"):
        assets.fetch_members("lsp_extended_2000", "*.png")


def test_an_edited_member_list_is_refused(monkeypatch):
    reg = dict(assets.registry())
    reg["aflw2000_3d_prnet"] = replace(reg["aflw2000_3d_prnet"], sha256="0" * 64)
    monkeypatch.setattr(assets, "registry", lambda: reg)
    with pytest.raises(assets.ChecksumError, match="member list"):
        assets.members("aflw2000_3d_prnet")


def test_dataset_members_download_one_by_one_and_verify(http_mirror, isolated_cache, monkeypatch):
    name = "aflw2000_3d_prnet"
    _with_url(monkeypatch, name, f"{http_mirror}/{assets.lookup(name).path}")
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    paths = assets.fetch_members(name, "*/image00050.*", progress=False)
    assert len(paths) == 2 and all(p.is_relative_to(isolated_cache) for p in paths.values())
    for rel, path in paths.items():
        assert hashing.sha256_of(path) == assets.members(name)[rel].sha256
    assert assets.status(name) == "download needed"  # 30 other members are still missing


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
def test_a_bad_cache_copy_is_said_to_have_failed_its_checksum_not_to_be_missing(mirror, isolated_cache, monkeypatch,
                                                                                damage):
    asset = assets.lookup("coral_squat_thunder_reference")
    cached = isolated_cache / asset.path
    cached.parent.mkdir(parents=True)
    original = (mirror / asset.path).read_bytes()
    cached.write_bytes(original.replace(b"0.", b"9.", 1) if damage == "tampered" else original[:len(original) // 2])
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    _with_url(monkeypatch, asset.name, "http://127.0.0.1:9/offline")  # no network to replace it
    with pytest.raises(assets.AssetUnavailableError) as err:
        assets.fetch(asset.name)
    assert f"its cache copy {cached} was there but failed its checksum" in str(err.value)
    assert "and was removed" in str(err.value) and "not in the cache" not in str(err.value)
    assert not cached.exists()


def test_a_full_cache_is_named_with_the_size_needed_and_the_partial_file_removed(http_mirror, isolated_cache,
                                                                                monkeypatch):
    from conftest import file_size_limit

    asset = assets.lookup("movenet_lightning_192_int8")
    _with_url(monkeypatch, asset.name, f"{http_mirror}/{asset.path}")
    monkeypatch.delenv("ZOO_ASSETS_DIR")
    with file_size_limit(1 << 20), pytest.raises(assets.AssetError) as err:  # the file does not fit: a real EFBIG
        assets.fetch(asset.name)
    message = str(err.value)
    assert f"the asset cache {isolated_cache} is full" in message and f"({asset.size:,} bytes needed)" in message
    assert "ZOO_CACHE_DIR" in message and "partial file was removed" in message
    assert isinstance(err.value, assets.CacheFullError)
    assert [p for p in isolated_cache.rglob("*") if p.is_file()] == []


def test_extracting_into_a_full_cache_is_named_and_leaves_nothing(mirror, isolated_cache):
    from conftest import file_size_limit

    with file_size_limit(16 * 1024), pytest.raises(assets.AssetError) as err:  # members of ~30 KB do not fit
        assets.extract("tof_handposture_dataset")
    assert f"the asset cache {isolated_cache} is full" in str(err.value) and "ZOO_CACHE_DIR" in str(err.value)
    assert "2,705,760 bytes needed" in str(err.value)  # the archive's members, uncompressed
    assert isinstance(err.value, assets.CacheFullError)
    assert [p for p in isolated_cache.rglob("*") if p.is_file()] == []
