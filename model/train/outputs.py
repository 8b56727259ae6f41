"""What a training run reads and leaves behind: the bundle folder (checked before training,
staged, swapped into place), the work folder's checkpoints (checked before --resume), the
loss chart."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from model.data.manifest import kind_hyperparameters
from model.errors import InputError
from model.files import atomic_output
from model.serve.bundle import BUNDLE_JSON, BundleError, read_bundle


def default_work(out: Path) -> Path:
    """Checkpoints go beside the bundle, not into whatever folder the command runs in."""
    return out.parent / f"{out.name}-training"


def check_folders(out: Path, work: Path, base: Path | None) -> None:
    """Before training: --out and --work must not hold each other (one would replace or
    fill the other), and --out must not hold the base bundle the run reads."""
    if _overlap(out, work):
        raise InputError("--out and --work must be separate folders, neither inside the "
                         f"other (--work: {work})", str(out))
    if base is not None and _overlap(out, base):
        raise InputError(f"--out never names an input: it holds the manifest's base: {base}",
                         str(out))
    check_replaceable(out)


def _overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def check_replaceable(out: Path) -> None:
    """A training run may replace `out` only if it is new, an empty folder or an earlier
    bundle holding nothing but its own files: `--out .`, a typo naming a folder of exports,
    or a bundle with eval/'s blind sheets and marks must not lose the user's files
    (checked before training starts, and again before the swap)."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise InputError("--out: a file that is not a model bundle is already there and "
                         "would be replaced; give a new folder", str(out))
    if not any(out.iterdir()):
        return
    if not (out / BUNDLE_JSON).is_file():
        raise InputError("--out: a folder that is not a model bundle (no bundle.json) is "
                         "already there and would be replaced; give a new folder", str(out))
    try:
        listed = set(read_bundle(out)["files"])
    except BundleError as exc:
        raise InputError(f"--out: {exc.reason}, so what it holds cannot be told from the "
                         "user's files; give a new folder", exc.path) from None
    stray = _unlisted(out, out, listed)
    if stray is not None:
        raise InputError(f"--out: {stray} would be lost: move it or choose another --out",
                         str(out))


def _unlisted(root: Path, folder: Path, listed: set[str]) -> str | None:
    """The first entry under `folder` that bundle.json does not list (a folder holding no
    listed file is named whole, `eval/`); None when every entry is the bundle's own."""
    for path in sorted(folder.iterdir()):
        name = path.relative_to(root).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(file.startswith(f"{name}/") for file in listed):
                return f"{name}/"
            inner = _unlisted(root, path, listed)
            if inner is not None:
                return inner
        elif name not in listed and name != BUNDLE_JSON:
            return name
    return None


@contextlib.contextmanager
def staged_bundle(out: Path):
    """Yield an empty staging folder beside `out`; swap it in when the block finishes. On
    any failure, Ctrl-C or SIGTERM it is removed: a failed run leaves nothing behind."""
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def swap_in(staging: Path, out: Path) -> None:
    """Replace the bundle folder `out` by the finished `staging` one (never half of each)."""
    check_replaceable(out)
    retired = out.with_name(f".{out.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if out.exists():
        os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


# --- the work folder ---------------------------------------------------------------------


def started_with(manifest) -> dict:
    """What a run's checkpoints depend on, recorded in state.json when it starts: resuming
    with another model (kind or size), another base or another batch size (the saved step
    indexes that epoch's batches) would fail on the weights' shapes or, worse, train on."""
    return {**{f"model.{key}": value for key, value in
               kind_hyperparameters(manifest.model).items()},
            "base": str(manifest.base) if manifest.base else None,
            "train.batch_size": manifest.train["batch_size"]}


AFRESH = "train afresh without --resume or choose another --work"


def trained_on(data) -> dict:
    """What a run's checkpoints learned from, recorded in state.json beside started_with:
    the personas in id order (an LSTM's persona table is indexed by id, a pretrained prompt
    names them) and a fingerprint of the encoded training and validation examples (a saved
    step indexes the epoch's batches, and the best validation loss was measured on that
    validation split)."""
    examples = json.dumps([data.train, data.val], separators=(",", ":"))
    return {"personas": list(data.personas),
            "examples": hashlib.sha256(examples.encode("utf-8")).hexdigest()}


def check_resumable(work: Path, manifest) -> None:
    """--resume only continues a run started with what this manifest (and its flags) asks
    for; checked before the pairs are built (check_resumable_data checks them after)."""
    path, recorded = _recorded(work, "started_with", "what its run was started with")
    wanted = started_with(manifest)
    # the kind first: another kind differs in every key, and its name says the most
    for key in sorted(wanted.keys() | recorded.keys(), key=lambda k: (k != "model.kind", k)):
        if wanted.get(key) != recorded.get(key):
            raise InputError(f"--resume: {key} is {wanted.get(key)!r} but the work folder's run "
                             f"was started with {recorded.get(key)!r}; {AFRESH}", str(path))


def check_resumable_data(work: Path, data) -> None:
    """--resume only continues a run that trained the same personas on the same examples."""
    path, recorded = _recorded(work, "trained_on", "the personas and examples its run trained on")
    wanted = trained_on(data)
    if wanted["personas"] != recorded["personas"]:
        raise InputError(f"--resume: personas are {wanted['personas']} but the work folder's "
                         f"run was started with {recorded['personas']}; {AFRESH}", str(path))
    if wanted["examples"] != recorded["examples"]:
        raise InputError("--resume: the training examples are not those the work folder's run "
                         "was started with (a source's chats, rename, pairs or "
                         f"train.val_fraction changed); {AFRESH}", str(path))


def _recorded(work: Path, key: str, what: str) -> tuple[Path, dict]:
    """(state.json's path, its `key` entry); InputError when either is missing."""
    path = work / "state.json"
    if not path.is_file():
        raise InputError("--resume: no checkpoint to resume from (state.json missing)",
                         str(work))
    recorded = json.loads(path.read_text(encoding="utf-8")).get(key)
    if recorded is None:
        raise InputError(f"--resume: state.json does not record {what} (an older work "
                         "folder); train afresh without --resume", str(path))
    return path, recorded


def resume_message(epoch: int, epochs: int, step: int = 0) -> str:
    """What --resume will do, from the checkpoint's epochs done and the run's epochs."""
    if epoch >= epochs:
        return (f"nothing left to train: the work folder's run has done {epoch} of {epochs} "
                "epochs (--epochs N trains on); writing the bundle from its best checkpoint")
    return f"resuming at epoch {epoch + 1}" + (f", step {step}" if step else "")


def plot_losses(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    epochs = [row["epoch"] for row in history]
    figure, axes = pyplot.subplots(figsize=(6, 4))
    axes.plot(epochs, [row["loss"] for row in history], marker="o", label="train")
    axes.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    axes.set_xlabel("epoch")
    axes.set_ylabel("token cross-entropy")
    axes.legend()
    figure.tight_layout()
    with atomic_output(path, mode="wb") as handle:
        figure.savefig(handle, format="png", dpi=80)
    pyplot.close(figure)
