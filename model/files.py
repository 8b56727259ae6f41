"""File helpers shared by every stage: atomic outputs and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path


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
    if path.exists() and not path.is_file():
        # /dev/null, a FIFO: a device cannot be replaced (as root, os.replace would swap
        # the device node for a plain file), so write straight through.
        with open(path, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; give it the permissions a plain open() would have, so
        # outputs (model bundles above all) stay readable by a service running as another user.
        os.chmod(tmp, 0o666 & ~_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
