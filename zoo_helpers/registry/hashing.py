"""File hashing for the asset registry: sha256 of a file, memoised per process while the file is unchanged.

Every verified file (mirror, cache, download, model, annotation) is hashed through :func:`file_sha256`, so a
notebook that fetches the same model in several cells hashes it once. :class:`ChecksumError` is what a file
that does not match its registered sha256 raises, wherever it was found.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class AssetError(RuntimeError):
    """Base class for asset problems."""


class ChecksumError(AssetError):
    """A file's sha256 differs from the registry; the file is not used."""


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"abc"); fh.flush()
    ...     sha256_of(fh.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Files hashed in this process, keyed by (device, inode, size, mtime_ns) -> sha256: a file is hashed again
#: only when it changes (notebooks fetch the same model in several cells); a verified download moved into the
#: cache keeps its key, so it is not hashed twice.
_VERIFIED: dict[tuple[int, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, hashed once per process while the file does not change (inode, size, mtime).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"abc"); fh.flush()
    ...     file_sha256(fh.name) == sha256_of(fh.name)
    True
    """
    path = Path(path)
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    return _VERIFIED[key]
