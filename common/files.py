"""One way to write a file, whole or not at all (`replacing`): PATH.tmp beside it, flushed,
fsynced and renamed over PATH, so a reader or a killed run sees the old file or the new one;
a failed write leaves the old file. OSErrors name the file (ENOSPC comes without one), which
`common.cli` prints as one line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from typing import IO, Any

# What a user's environment causes when a file is written, one line and not a traceback: no
# space, no permission (and, is_write_error checks that it is so, a file where a folder must go
# or a folder where a file must: an --out naming a file, or a path through one).
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def cache_dir(name: str) -> str:
    """$XDG_CACHE_HOME/jax_vae_aae/NAME (XDG_CACHE_HOME defaults to ~/.cache): the one folder of
    the project's caches (the compilation cache, the sample-quality classifiers)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jax_vae_aae", name)


def temporary(path: str) -> str:
    """The temporary name `path` is written to before it is renamed into place."""
    return path + ".tmp"


@contextlib.contextmanager
def replacing(path: str, mode: str = "w") -> Iterator[IO]:
    """A file object whose contents replace `path` when the body ends without an error."""
    tmp = temporary(path)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if e.filename is None and e.errno is not None:  # ENOSPC comes without the file's name
            raise type(e)(e.errno, e.strerror, path) from e
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def write_text(path: str, text: str) -> None:
    with replacing(path) as f:
        f.write(text)


def write_json(path: str, value: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(value, indent=indent) + "\n")


def write_bytes(path: str, data: bytes) -> None:
    with replacing(path, "wb") as f:
        f.write(data)


def copy(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        write_bytes(dst, f.read())


def check_writable(folder: str) -> None:
    """Raises the OSError a write into `folder` would meet, before a long computation whose
    result goes there starts; folders it creates for the probe are removed again."""
    missing, parent = [], os.path.abspath(folder)
    while not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    probe = os.path.join(folder, ".write-check")
    try:
        write_bytes(probe, b"")
        _remove(probe)
    finally:
        for path in missing:  # the deepest first
            with contextlib.suppress(OSError):
                os.rmdir(path)


def file_on_path(folder: str) -> str | None:
    """The first existing path of `folder` and its parents that is not a folder (a file where a
    folder must go), or None."""
    path = os.path.abspath(folder)
    while True:
        if os.path.exists(path) and not os.path.isdir(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def is_write_error(error: BaseException) -> bool:
    """Whether `error` is a write that the user's environment refused: WRITE_ERRORS, or ENOTDIR,
    EEXIST or EISDIR where a file does stand on a folder's path or a folder on a file's (not,
    say, a folder made twice: that is a bug)."""
    if not isinstance(error, OSError):
        return False
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return bool(error.filename) and file_on_path(error.filename) is not None
    if error.errno == errno.EISDIR:
        return os.path.isdir(written_path(error))
    return error.errno in WRITE_ERRORS


def written_path(error: OSError) -> str:
    """The path a failed write was for: a rename's target (filename2), else its filename."""
    return error.filename2 or error.filename or ""
