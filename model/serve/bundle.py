"""The model bundle directory: bundle.json, its sha256 list, and verification.

TF-free (the runtime imports it). A bundle is `bundle.json` + `tokenizer.json` +
`encoder.onnx` + `decoder_step.onnx` + optionally `keras/` and `memorisation.npz` (the
memorisation guard's index, model/serve/memorisation.py). bundle.json's `files` maps
every other file's relative path to its sha256, so a damaged or half-copied bundle is
refused with the name of the file that does not match.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.errors import InputError
from model.files import atomic_output, sha256_file

FORMAT_VERSION = 1
BUNDLE_JSON = "bundle.json"
REPORT_DIR = "eval"  # where `python -m model eval` writes its reports by default
REQUIRED_KEYS = ("format_version", "name", "kind", "personas", "special_tokens", "files")


class BundleError(InputError):
    """A bundle that is missing, malformed, or whose files do not match their sha256."""


def bundle_files(bundle_dir: str | Path) -> list[str]:
    """Relative paths (posix) of every file in the bundle except bundle.json and the
    evaluation's reports, sorted. Reports are about the model, not part of it: listing
    them made a bundle unloadable once a report was rewritten, moved or left out."""
    root = Path(bundle_dir)
    return sorted(
        relative.as_posix()
        for path in root.rglob("*")
        for relative in [path.relative_to(root)]
        if path.is_file() and path.name != BUNDLE_JSON and not path.name.startswith(".")
        and relative.parts[0] != REPORT_DIR
    )


def file_hashes(bundle_dir: str | Path) -> dict[str, str]:
    root = Path(bundle_dir)
    return {name: sha256_file(root / name) for name in bundle_files(root)}


def read_bundle(bundle_dir: str | Path) -> dict:
    """bundle.json as a dict, with the keys everyone relies on checked."""
    path = Path(bundle_dir) / BUNDLE_JSON
    if not path.is_file():
        raise BundleError("not a model bundle (no bundle.json)", path=str(bundle_dir))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"unreadable bundle.json: {exc}", path=str(path)) from exc
    if not isinstance(meta, dict):
        raise BundleError("bundle.json must hold a JSON object", path=str(path))
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise BundleError(f"bundle.json lacks {', '.join(missing)}", path=str(path))
    if meta["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"format_version {meta['format_version']!r} is not supported (expected "
            f"{FORMAT_VERSION})", path=str(path))
    return meta


def write_bundle(bundle_dir: str | Path, meta: dict,
                 written: tuple[str, ...] | None = None) -> dict:
    """Write bundle.json atomically with `files` recomputed from what is on disk.

    Given `written`, only those files' hashes are (re)recorded and the rest of
    meta["files"] is kept: hashing a verified bundle's other files again would vouch
    for a file damaged since, and drop one deleted since.
    """
    root = Path(bundle_dir)
    if written is None:
        files = file_hashes(root)
    else:
        files = {**meta["files"], **{name: sha256_file(root / name) for name in written}}
    meta = dict(meta, format_version=FORMAT_VERSION, files=files)
    with atomic_output(root / BUNDLE_JSON) as handle:
        json.dump(meta, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return meta


def verify_bundle(bundle_dir: str | Path, required: tuple[str, ...] = ()) -> dict:
    """Check every listed file against its sha256; `required` files must be listed.

    Returns bundle.json's contents. Raises BundleError naming the first bad file.
    """
    root = Path(bundle_dir)
    meta = read_bundle(root)
    files = meta["files"]
    for name in required:
        if name not in files:
            raise BundleError(f"bundle.json does not list {name}", path=str(root / BUNDLE_JSON))
    for name, expected in sorted(files.items()):
        path = root / name
        if not path.is_file():
            raise BundleError("file listed in bundle.json is missing", path=str(path))
        if sha256_file(path) != expected:
            raise BundleError("sha256 does not match bundle.json (damaged or replaced file)",
                              path=str(path))
    return meta
