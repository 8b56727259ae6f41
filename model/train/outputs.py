"""What a training run leaves behind: the bundle swapped into place, the loss chart."""

from __future__ import annotations

import os
from pathlib import Path

from model.errors import InputError
from model.files import atomic_output


def check_replaceable(out: Path) -> None:
    """A training run may replace `out` only if it is new, an empty folder or an earlier
    bundle: `--out .` or a typo naming a folder of exports must not delete the user's files
    (checked before training starts, and again before the swap)."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and (
            (out / "bundle.json").is_file() or not any(out.iterdir())):
        return
    kind = "folder" if out.is_dir() else "file"
    raise InputError(f"--out: a {kind} that is not a model bundle (no bundle.json) is "
                     "already there and would be replaced; give a new folder", str(out))


def swap_in(staging: Path, out: Path) -> None:
    """Replace the bundle folder `out` by the finished `staging` one (never half of each)."""
    import shutil

    check_replaceable(out)
    retired = out.with_name(f".{out.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if out.exists():
        os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


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
