"""`python -m model train MANIFEST`: ingest -> pairs -> tokenizer -> train -> bundle -> export.

Everything the manifest can get wrong (model kind, vocab size, a persona with no
pairs, an empty validation split) is checked before TensorFlow trains anything.

Two folders: the bundle (`--out`, default runs/<name>) gets what serving and
fine-tuning need; the work folder (`--work`, default <out>-training beside it) keeps
checkpoints, state.json and the tokenizer for --resume, the CSV and TensorBoard logs.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

from model.data.manifest import kind_hyperparameters
from model.errors import InputError
from model.files import atomic_output
from model.serve.tokenizer import SPECIAL_TOKENS
from model.train.nets import build_model, load_keras_model, setup_tensorflow
from model.train.outputs import (
    check_folders,
    check_resumable,
    check_resumable_data,
    default_work,
    plot_losses,
    resume_message,
    staged_bundle,
    started_with,
    trained_on,
)
from model.train.training_data import (
    KERAS_FILE,
    Prepared,
    data_line,
    learning_rate,
    make_dataset,
    prepare,
)


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="training manifest (YAML)")
    parser.add_argument("--out", help="bundle folder (default: runs/<manifest name>)")
    parser.add_argument("--work", help="checkpoints and logs (default: <out>-training, beside --out)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the work folder's last checkpoint")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--no-persona", action="store_true",
                        help="ablation: same model without the persona embedding")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow CPU threads (0: TensorFlow's default)")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the ONNX export (run `python -m model export` later)")


def run(args) -> int:
    from model.data.manifest import load_manifest

    manifest = load_manifest(args.manifest)
    out = Path(args.out) if args.out else Path("runs") / manifest.name
    work = Path(args.work) if args.work else default_work(out)
    check_folders(out, work, manifest.base)
    if args.epochs is not None:
        if args.epochs < (0 if manifest.model["kind"] == "pretrained" else 1):
            raise InputError("--epochs must be positive (0 is allowed for a pretrained "
                             "model: the zero-shot base as a bundle)")
        manifest.train["epochs"] = args.epochs
    if args.no_persona:
        manifest.model["persona_embedding"] = False
    if args.resume:
        check_resumable(work, manifest)
    try:
        if manifest.model["kind"] == "pretrained":
            from model.train.pretrained.finetune import finetune

            finetune(manifest, out, work, resume=args.resume, threads=args.threads,
                     command=command_line(args), export=not args.no_export)
            return 0
        data = prepare(manifest, work if args.resume else None)
        if args.resume:
            check_resumable_data(work, data)
        train_bundle(manifest, data, out, work, resume=args.resume, threads=args.threads,
                     command=command_line(args), export=not args.no_export)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (model.cli)
        say_how_to_resume(work, args)
        raise
    return 0


def say_how_to_resume(work: Path, args) -> None:
    """After an interrupt, where the work folder's last checkpoint stands and the command
    that continues from it (the exit status alone says neither)."""
    try:
        history = json.loads((work / "state.json").read_text(encoding="utf-8"))["history"]
    except (OSError, ValueError, KeyError):
        return  # stopped before its first checkpoint: nothing to resume
    command = command_line(args) + ("" if args.resume else " --resume")
    print(f"interrupted: the last checkpoint in {work} is at epoch {history[-1]['epoch']}; "
          f"this continues from it: {command}", file=sys.stderr)


def command_line(args) -> str:
    """The command that made a bundle, as recorded in bundle.json."""
    words = ["python", "-m", "model", "train", args.manifest]
    for option in ("out", "work", "epochs"):
        if getattr(args, option) is not None:
            words += [f"--{option}", str(getattr(args, option))]
    for flag in ("resume", "no_persona", "no_export"):
        if getattr(args, flag):
            words.append("--" + flag.replace("_", "-"))
    return shlex.join(words)


# --- training -----------------------------------------------------------------------


def train_bundle(manifest, data: Prepared, out: Path, work: Path, resume: bool = False,
                 threads: int = 0, command: str = "", export: bool = True) -> dict:
    """Train (or resume), keep the best checkpoint, write and export the bundle."""
    print(data_line(data.summary), file=sys.stderr, flush=True)
    settings = manifest.train
    tf, keras = setup_tensorflow(settings["seed"], threads)
    from model.train.layers import masked_token_loss

    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.json"
    gpus = tf.config.list_logical_devices("GPU")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    with strategy.scope():
        if resume:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            model = load_keras_model(work / "last.keras")
            print(resume_message(state["epoch"], settings["epochs"]), file=sys.stderr)
        else:
            for stale in ("state.json", "last.keras", "best.keras", "log.csv"):
                (work / stale).unlink(missing_ok=True)
            state = {"epoch": 0, "best_val_loss": None, "bad_epochs": 0, "history": [],
                     "seconds": 0.0, "started_with": started_with(manifest),
                     "trained_on": trained_on(data)}
            model = build_model(data.hp, data.tokenizer.vocab_size, len(data.personas))
            if data.base_model is not None:
                copy_base_weights(model, data.base_model)
            rate = learning_rate(keras, settings, len(data.train))
            model.compile(optimizer=keras.optimizers.Adam(rate, clipnorm=1.0),
                          loss=masked_token_loss, jit_compile=False)
            data.tokenizer.save(work / "tokenizer.json")
    val_data = make_dataset(data.val, settings["batch_size"], seed=None)
    # one fit() per epoch (fresh shuffle seed each), so the log always appends
    callbacks = [keras.callbacks.CSVLogger(str(work / "log.csv"), append=True),
                 keras.callbacks.TensorBoard(str(work / "tensorboard"))]
    patience = settings["patience"]
    for epoch in range(state["epoch"], settings["epochs"]):
        if patience and state["bad_epochs"] >= patience:
            break
        started = time.perf_counter()
        reseed_dropout(model, settings["seed"], epoch)
        print(f"epoch {epoch + 1} of {settings['epochs']}", file=sys.stderr)
        train_data = make_dataset(data.train, settings["batch_size"], seed=settings["seed"] + epoch)
        history = model.fit(train_data, validation_data=val_data, initial_epoch=epoch,
                            epochs=epoch + 1, callbacks=callbacks, shuffle=False,
                            verbose=1 if sys.stdout.isatty() else 2)
        loss, val_loss = history.history["loss"][-1], history.history["val_loss"][-1]
        state["seconds"] += time.perf_counter() - started
        state["history"].append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss})
        state["epoch"] = epoch + 1
        if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
            state["best_val_loss"], state["bad_epochs"] = val_loss, 0
            _save_model(model, work / "best.keras")
        else:
            state["bad_epochs"] += 1
        _save_model(model, work / "last.keras")
        with atomic_output(state_path) as handle:
            json.dump(state, handle, indent=2)
    return write_bundle_dir(manifest, data, state, work, out, command, export)


def reseed_dropout(model, seed: int, epoch: int) -> None:
    """Dropout masks of an epoch depend only on (seed, epoch): a resumed run replays them."""
    import numpy as np

    states = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    for index, state in enumerate(states):
        state.assign(np.array([seed * 7919 + epoch * 1009 + index, 0], dtype=state.dtype))


def _save_model(model, path: Path) -> None:
    """model.save to a temporary name, then rename: a crash never leaves half a file."""
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)


def copy_base_weights(model, base_file: Path) -> None:
    """Start from a base bundle's weights; grown tables (vocab, personas) keep fresh rows."""
    import keras

    base = load_keras_model(base_file, compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    for layer in model.layers:
        old_layer = base_layers.get(layer.name)
        if old_layer is None:
            continue
        for variable, old in zip(layer.weights, old_layer.weights, strict=True):
            old_value, value = keras.ops.convert_to_numpy(old), keras.ops.convert_to_numpy(variable)
            if old_value.shape != value.shape:
                if old_value.ndim != value.ndim or any(
                        o > n for o, n in zip(old_value.shape, value.shape, strict=True)):
                    raise InputError(f"base: weight {variable.path} has shape {old_value.shape}, "
                                     f"cannot grow it to {value.shape}", str(base_file))
                value[tuple(slice(0, n) for n in old_value.shape)] = old_value
                old_value = value
            variable.assign(old_value)


# --- the bundle -----------------------------------------------------------------------


def write_bundle_dir(manifest, data: Prepared, state: dict, work: Path, out: Path,
                     command: str, export: bool = True) -> dict:
    """Assemble the bundle in a staging folder, export ONNX, then swap it into `out`."""
    import shutil

    from model.serve.bundle import write_bundle
    from model.serve.memorisation import write_guard_index
    from model.serve.retrieval import FILE_NAME as RETRIEVAL_FILE
    from model.serve.retrieval import RetrievalIndex
    from model.train.export import export_bundle

    with staged_bundle(out) as staging:
        (staging / "keras").mkdir()
        data.tokenizer.save(staging / "tokenizer.json")
        load_keras_model(work / "best.keras", compile=False).save(staging / KERAS_FILE)
        shutil.copyfile(work / "log.csv", staging / "training_log.csv")
        plot_losses(state["history"], staging / "loss.png")
        RetrievalIndex.from_pairs(data.train_pairs, persona=data.default_persona).save(
            staging / RETRIEVAL_FILE)
        write_guard_index(staging, data.train_pairs, data.train,
                          data.tokenizer.hf.get_vocab(with_added_tokens=True))
        best = min(state["history"], key=lambda row: row["val_loss"])
        tokenizer = data.tokenizer
        write_bundle(staging, {
            "name": manifest.name,
            "kind": data.hp["kind"],
            "hyperparameters": kind_hyperparameters(data.hp),
            "special_tokens": dict(zip(("pad", "bos", "eos", "unk", "brk", "sep"), SPECIAL_TOKENS,
                                       strict=True)),
            "personas": data.personas,
            "default_persona": data.default_persona,
            "speaker_tokens": {name: f"<p:{name}>" for name in data.personas},
            "max_context_tokens": tokenizer.max_context_tokens,
            "max_reply_tokens": tokenizer.max_reply_tokens,
            "data": data.summary,
            "training": {**manifest.train, "epochs_run": state["epoch"], "best_epoch": best["epoch"],
                         "seconds": round(state["seconds"], 1),
                         "base": str(manifest.base) if manifest.base else None},
            "eval": {"val_loss": round(best["val_loss"], 4),
                     "val_perplexity": round(math.exp(best["val_loss"]), 3)},
            "command": command,
        })
        if export:
            export_bundle(staging)
    print(f"bundle written to {out} (best val loss {best['val_loss']:.4f} at epoch "
          f"{best['epoch']}, {state['seconds']:.0f}s training)", file=sys.stderr)
    return state


