"""File helpers shared by every stage: atomic outputs and content hashes."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from model.errors import InputError


@contextlib.contextmanager
def atomic_output(path: str | Path | None, mode: str = "w"):
    """Yield a handle that replaces `path` only if the block finishes without error.

    `None` or "-" means stdout. The temporary file lives beside the target so the final
    `os.replace` is atomic; on any exception it is removed and the target is untouched.
    """
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder; --out names the file to write", str(path))
    if path.exists() and not path.is_file():
        # /dev/null, a FIFO: a device cannot be replaced (as root, os.replace would swap
        # the device node for a plain file), so write straight through.
        with naming_write_errors(path), open(path, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError("cannot be written: part of its folder path is a file",
                         str(path)) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; give it the permissions a plain open() would have, so
        # outputs (model bundles above all) stay readable by a service running as another user.
        os.chmod(tmp, 0o666 & ~_umask())
        encoding = None if "b" in mode else "utf-8"
        with naming_write_errors(path), os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def naming_write_errors(path: Path):
    """A write error (a full disk, a file too large) carries no file name; it gets `path`'s,
    so the command line can say in one line which output failed."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno in WRITE_ERRORS:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def check_not_input(out: str | Path | None, inputs: list[str | Path]) -> None:
    """`--out` must not name one of the command's input files (it would be replaced)."""
    if out is None or str(out) == "-" or not Path(out).is_file():
        return
    for source in map(Path, inputs):
        if source.is_file() and os.path.samefile(source, out):
            raise InputError("--out names an input file, which writing would replace",
                             str(out))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


def sha256_stream(handle, chunk: int = 1 << 20) -> str:
    """The sha256 of what a binary handle has left to read (a file, a zip member)."""
    digest = hashlib.sha256()
    while block := handle.read(chunk):
        digest.update(block)
    return digest.hexdigest()
