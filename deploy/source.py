"""The project as it ships to a server: the checkout root and a tarball of its tracked files.

The tarball holds exactly what `git ls-files` lists (as it is in the working tree now),
with fixed times, owners and modes, so identical files give identical bytes and an
unchanged checkout is never uploaded twice (EC2 user-data and SageMaker unpack it).
"""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

from model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def source_tarball(root: Path = ROOT) -> bytes:
    """The tracked files of the checkout as a .tar.gz, byte-identical for identical files."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True)
    if listed.returncode != 0:
        raise InputError("not a git checkout (servers get the tracked files)",
                         path=str(root))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(filter(None, listed.stdout.decode().split("\0"))):
            path = root / rel
            if not path.is_file():  # deleted but not yet committed
                continue
            info = tarfile.TarInfo(rel)
            info.size = path.stat().st_size
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()
