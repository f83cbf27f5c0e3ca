"""``get_file``: download a file once into Keras's cache, verify its hash, optionally extract it.

The cache is Keras's own (``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras``; a temporary
``.keras`` directory when that is not writable), so a file Keras already downloaded is reused.
A download goes to a temporary file beside the target and is renamed over it only once it is
complete and its hash matches: an error or Ctrl-C never leaves a partial file in the cache.
Archives are extracted only when every member stays inside the target directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

from fastff._atomic import atomic_write

if TYPE_CHECKING:
    import tarfile
    import zipfile

# tarfile, zipfile and urllib.request (which loads ssl and email) are imported on first use,
# so ``import fastff.utils`` stays cheap

__all__ = ["get_file", "hash_file", "validate_file", "extract_archive", "keras_home",
           "DownloadError"]

_HASH_ALGORITHMS = ("auto", "sha256", "md5")
_CHUNK = 1 << 16
#: seconds a stalled connection may stay silent before the download fails
TIMEOUT_S = 60.0


class DownloadError(OSError):
    """A file could not be fetched (no network, HTTP error, missing source)."""


def keras_home() -> str:
    """Keras's base directory: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the
    home directory is not writable), read at call time."""
    env = os.environ.get("KERAS_HOME")
    if env:
        return env
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return os.path.join(home, ".keras")


def _fallback_base() -> str:
    return os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")


def _resolve_hasher(algorithm: str, file_hash: str | None = None) -> Any:
    if algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"hash_algorithm must be one of {_HASH_ALGORITHMS}, got {algorithm!r}")
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None
                                 and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()  # Keras's legacy default for "auto" with a non-sha256 hash


def _algorithm_name(algorithm: str, file_hash: str) -> str:
    return _resolve_hasher(algorithm, file_hash).name


def hash_file(fpath: str | os.PathLike[str], algorithm: str = "sha256",
              chunk_size: int = 65535) -> str:
    """The hex sha256 (or md5) digest of a file, read in chunks."""
    hasher = _resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: str | os.PathLike[str], file_hash: str, algorithm: str = "auto",
                  chunk_size: int = 65535) -> bool:
    """Whether the file's sha256 / md5 digest equals ``file_hash`` (``"auto"``: sha256 for a
    64-character hash, md5 otherwise)."""
    hasher = _resolve_hasher(algorithm, file_hash)
    return hash_file(fpath, hasher, chunk_size) == str(file_hash).lower()


# ---------------------------------------------------------------------------- extraction


def _inside(base: str, relative: str) -> bool:
    """Whether ``base/relative`` (symlinks and ``..`` resolved) stays within ``base``."""
    target = os.path.realpath(os.path.join(base, relative))
    try:
        return os.path.commonpath([target, base]) == base
    except ValueError:  # different drives
        return False


def _check_tar(archive: tarfile.TarFile, base: str, file_path: str) -> list[tarfile.TarInfo]:
    members = archive.getmembers()
    for m in members:
        bad = None
        if os.path.isabs(m.name) or not _inside(base, m.name):
            bad = "its path leaves the extraction directory"
        elif m.issym():
            link = os.path.join(os.path.dirname(m.name), m.linkname)
            if os.path.isabs(m.linkname) or not _inside(base, link):
                bad = f"it is a symbolic link to {m.linkname!r} outside the extraction directory"
        elif m.islnk():
            if os.path.isabs(m.linkname) or not _inside(base, m.linkname):
                bad = f"it is a hard link to {m.linkname!r} outside the extraction directory"
        elif not (m.isfile() or m.isdir()):
            bad = "it is a device, FIFO or other special file"
        if bad:
            raise ValueError(f"{file_path}: refusing to extract the archive: member {m.name!r} "
                             f"is unsafe ({bad}); nothing was extracted")
    return members


def _check_zip(archive: zipfile.ZipFile, base: str, file_path: str) -> None:
    for name in archive.namelist():
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") \
                or not _inside(base, name):
            raise ValueError(f"{file_path}: refusing to extract the archive: member {name!r} "
                             "is unsafe (its path leaves the extraction directory); nothing "
                             "was extracted")


def _formats(archive_format: str | Iterable[str] | None) -> list[str]:
    if archive_format is None:
        return []
    if archive_format == "auto":
        return ["tar", "zip"]
    fmts = [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for f in fmts:
        if f not in ("tar", "zip"):
            raise ValueError(f"archive_format must be 'auto', 'tar', 'zip', a list of those or "
                             f"None, got {archive_format!r}")
    return fmts


def extract_archive(file_path: str | os.PathLike[str], path: str | os.PathLike[str] = ".",
                    archive_format: str | Iterable[str] | None = "auto") -> bool:
    """Extract a tar (plain, gz, bz2, xz) or zip archive into ``path``; False when the file
    is none of ``archive_format``. Every member is checked first: one whose path or link
    target leaves ``path`` (or a device file) is refused with a ``ValueError`` and nothing is
    written. Members land in a temporary sibling directory renamed to ``path`` at the end, so
    an error or Ctrl-C leaves no half-extracted tree."""
    import tarfile
    import zipfile

    file_path, path = os.fspath(file_path), os.fspath(path)
    for fmt in _formats(archive_format):
        if fmt == "tar" and tarfile.is_tarfile(file_path):
            kind = "tar"
        elif fmt == "zip" and zipfile.is_zipfile(file_path):
            kind = "zip"
        else:
            continue
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=parent)
        try:
            base = os.path.realpath(tmp)
            if kind == "tar":
                with tarfile.open(file_path) as archive:
                    members = _check_tar(archive, base, file_path)
                    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    archive.extractall(base, members=members, **kwargs)
            else:
                with zipfile.ZipFile(file_path) as archive:
                    _check_zip(archive, base, file_path)
                    archive.extractall(base)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return True
    return False


# ---------------------------------------------------------------------------- download


class _Progress:
    """A tqdm byte counter (tqdm is a dependency of fastff), written to stderr."""

    def __init__(self, total: int | None, name: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                         file=sys.stderr, leave=True, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _no_file_message(origin: str, target: str, reason: object) -> str:
    return (f"could not download {origin} ({reason}). With no network, fetch that URL "
            f"elsewhere and put the file at {target} (fastff reuses the Keras cache there).")


def _download(origin: str, target: str, file_hash: str | None, hash_algorithm: str,
              progress: bool = True) -> None:
    """Stream ``origin`` into a temporary file beside ``target``, check the hash, rename."""
    import urllib.error
    import urllib.request

    try:
        response = urllib.request.urlopen(origin, timeout=TIMEOUT_S)  # noqa: S310
    except urllib.error.HTTPError as e:
        raise DownloadError(_no_file_message(origin, target, f"HTTP {e.code} {e.msg}")) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(_no_file_message(origin, target, reason)) from None
    hasher = _resolve_hasher(hash_algorithm, file_hash) if file_hash is not None else None

    def write(f: BinaryIO) -> None:
        length = response.headers.get("Content-Length") if response.headers else None
        total = int(length) if length and length.isdigit() else None
        bar = _Progress(total, os.path.basename(target)) if progress else None
        got = 0
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except OSError as e:
                    raise DownloadError(_no_file_message(
                        origin, target, f"connection lost after {got} bytes: {e}")) from None
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and got != total:
            raise DownloadError(_no_file_message(
                origin, target, f"connection closed after {got} of {total} bytes"))
        if hasher is not None and hasher.hexdigest() != file_hash.lower():
            raise ValueError(
                f"{target}: the file downloaded from {origin} is incomplete or corrupted: its "
                f"{hasher.name} hash is {hasher.hexdigest()}, expected {file_hash}; the cache "
                "was left unchanged")

    try:
        atomic_write(target, write)
    finally:
        response.close()


def _cache_dirs(cache_dir: str | os.PathLike[str] | None, cache_subdir: str) -> list[str]:
    base = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else keras_home()
    dirs = [os.path.join(base, cache_subdir)]
    fallback = os.path.join(_fallback_base(), cache_subdir)
    if fallback != dirs[0]:
        dirs.append(fallback)
    return dirs


def _writable_dir(candidates: list[str]) -> str:
    for d in candidates:
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise DownloadError(f"no writable cache directory among {candidates}")


def get_file(
    fname: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | Iterable[str] | None = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """Download ``origin`` into ``<cache_dir>/<cache_subdir>/<fname>`` unless it is already
    there, and return the local path (Keras's ``keras.utils.get_file``).

    ``cache_dir`` defaults to ``$KERAS_HOME`` or ``~/.keras`` (so Keras's downloads are
    reused); when it cannot be written, ``/tmp/.keras``. ``cache_subdir`` may be absolute.
    ``fname`` defaults to the last part of the URL and may not contain a directory.
    ``file_hash`` (sha256, or md5 for ``hash_algorithm="md5"`` or a 32-character hash) is
    checked on the cached file (a mismatch re-downloads it) and on every download (a mismatch
    raises ``ValueError`` naming the file and both hashes, leaving the cache unchanged).
    ``extract=True`` (or the deprecated ``untar=True``, tar only) extracts a tar/zip archive
    and returns the extraction directory: ``<fname>`` when ``fname`` has no dot (the archive
    is stored as ``<fname>_archive``), else ``<stem>_extracted``; members escaping it are
    refused. ``md5_hash`` is the deprecated spelling of ``file_hash`` with md5.
    With no network, raises ``DownloadError`` (an ``OSError``) naming the URL and the path
    where the file can be put by hand.

    Differences from Keras: a missing ``cache_dir`` is created instead of silently switching
    to ``/tmp/.keras``; an archive already extracted is not extracted again on every call;
    a bad download never replaces the cached file.
    """
    if origin is None:
        raise ValueError('get_file: specify the "origin" argument (URL of the file to download)')
    if not isinstance(origin, str):
        raise TypeError(f"get_file: origin must be a URL string, got {type(origin).__name__}")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    _resolve_hasher(hash_algorithm, file_hash)  # validates hash_algorithm
    if extract or untar:
        _formats("tar" if untar else archive_format)  # validates archive_format
    if file_hash is not None:
        file_hash = str(file_hash).strip().lower()
    provided = fname is not None and os.fspath(fname) != ""
    if provided:
        fname = os.fspath(fname)
        if os.sep in fname or (os.altsep and os.altsep in fname):
            raise ValueError("get_file: fname may not contain a directory; to choose where the "
                             f"file goes, use cache_dir / cache_subdir. Received: fname={fname}")
    else:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: can't parse the file name from origin {origin!r}; "
                             "pass the fname argument")

    def names(datadir: str) -> tuple[str, str | None]:
        """(download target, extraction dir) in ``datadir``, laid out as Keras does."""
        if not (extract or untar):
            return os.path.join(datadir, fname), None
        if provided and "." in fname:
            return (os.path.join(datadir, fname),
                    os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted"))
        return os.path.join(datadir, f"{fname}_archive"), os.path.join(datadir, fname)

    candidates = _cache_dirs(cache_dir, cache_subdir)
    target = extraction_dir = None
    download = True
    if not force_download:
        for d in candidates:  # a valid cached copy is used even from a read-only cache
            t, e = names(d)
            if not os.path.isfile(t):
                continue
            if file_hash is not None and not validate_file(t, file_hash, hash_algorithm):
                print(f"A local file was found at {t}, but its "
                      f"{_algorithm_name(hash_algorithm, file_hash)} hash does not match "
                      f"{file_hash}; it seems incomplete or outdated, so it will be "
                      "downloaded again.")
                continue
            target, extraction_dir, download = t, e, False
            break
    if download:
        target, extraction_dir = names(_writable_dir(candidates))
        if os.path.isdir(target):
            raise ValueError(f"get_file: {target} is a directory (an archive extracted under "
                             "that name?); pass another fname or cache_subdir")
        print(f"Downloading data from {origin}")
        _download(origin, target, file_hash, hash_algorithm)

    if extract or untar:
        if download or not os.path.isdir(extraction_dir):
            fmt = "tar" if untar else archive_format
            if not extract_archive(target, extraction_dir, fmt):
                raise ValueError(f"{target}: not a {' or '.join(_formats(fmt)) or 'known'} "
                                 "archive, so it could not be extracted")
        return extraction_dir
    return target
