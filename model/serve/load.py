"""`load_replier(bundle_dir)`: a bundle of any kind, verified, behind the Replier interface."""

from __future__ import annotations

from pathlib import Path

from model.serve.bundle import read_bundle
from model.serve.memorisation import MemorisationGuard
from model.serve.pretrained.replier import LMReplier
from model.serve.runtime import Replier


def load_replier(bundle_dir: str | Path, threads: int = 1, guard: bool = True) -> Replier:
    """Verify the bundle's sha256s (BundleError names a bad file) and open it.

    `threads` is onnxruntime's intra-op thread count per graph run; 1 suits servers
    that run one process per core. `guard`: withhold replies that copy a rare stretch
    of a training reply, where the bundle has the index (model/serve/memorisation.py).
    """
    bundle_dir = Path(bundle_dir)
    if read_bundle(bundle_dir).get("kind") == "pretrained":
        replier = LMReplier.load(bundle_dir, threads)
    else:
        replier = Replier.load(bundle_dir, threads)
    replier.guard = MemorisationGuard.load(bundle_dir) if guard else None
    return replier
